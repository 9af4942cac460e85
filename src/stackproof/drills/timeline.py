"""Timelines of an operation: what the script said it did, and what an observer saw."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise
from typing import Any

from stackproof.results.drill_charts import Lane, Mark, Span

BAD_EVENTS = frozenset(
    {
        "invalid",
        "failed",
        "gave_up",
        "rollback",
        "rollback_failed",
        "restart_failed",
        "dependency_unhealthy",
        "refused",
        "rolled_back",
    }
)
OK_EVENTS = frozenset({"deployed", "done", "written", "ready", "healthy"})


def script_lane(label: str, events: Sequence[Mapping[str, Any]], origin: float) -> Lane:
    """One span per step, named by the event that ends it (the span up to `database_up` is
    the database coming up); health polls and the end as marks."""
    timed = [e for e in events if isinstance(e.get("t"), int | float)]
    spans, marks = [], []
    for event, following in pairwise(timed):
        name = str(following["event"])
        tone = "bad" if name in BAD_EVENTS else "ok" if name in OK_EVENTS else "info"
        spans.append(Span(event["t"] - origin, following["t"] - origin, name, tone))
    for event in timed:
        if event["event"] == "health":
            marks.append(Mark(event["t"] - origin, f"health {event.get('status')}"))
    if timed:
        marks.append(Mark(timed[-1]["t"] - origin, str(timed[-1]["event"])))
    return Lane(label, tuple(spans), tuple(marks))


def observed_lane(
    label: str, spans: Iterable[tuple[float, float, str]], origin: float, good: str = "200"
) -> Lane:
    return Lane(
        label,
        tuple(
            Span(start - origin, end - origin, text, "ok" if text.startswith(good) else "bad")
            for start, end, text in spans
        ),
    )


def marks_lane(label: str, marks: Mapping[str, float], origin: float) -> Lane:
    return Lane(label, marks=tuple(Mark(at - origin, text) for text, at in marks.items()))
