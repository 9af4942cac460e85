"""How a deploy polled a release's health (R-DEP-1), judged from what the release received.

An unready release (`stackproof.drills.unready`) logs when each request reached it. Time is
measured from the moment the release was started (the stack's lifecycle), not from its first
logged probe: a deploy polls at once after its restart, before the release listens, and on
a loaded machine the release may listen only after a poll or two more. The deploy's
schedule is anchored (a poll may start late, never early), so one probe seen late shortens
the next gap without the deploy polling more often: the judgment counts probes against the
time elapsed, not gap by gap.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from stackproof.checks.problems import Problems
from stackproof.errors import PreconditionError

LISTEN_FAILED = "listen_failed"
STARTED = "started"


@dataclass(frozen=True, slots=True)
class ProbeLog:
    """When the deploy's probes reached the release (monotonic seconds, in order), and why
    the release could not listen at all, if it could not."""

    probes: tuple[float, ...]
    listen_error: str | None = None
    started: float | None = None  # when the release says it started, in its probes' clock

    @classmethod
    def read(cls, path: Path, ignore_agent: str) -> ProbeLog:
        """The log at `path`, less the requests of `ignore_agent` (the harness's watcher)."""
        if not path.exists():
            return cls(())
        return cls.parse(path.read_text("utf-8"), ignore_agent)

    @classmethod
    def parse(cls, text: str, ignore_agent: str) -> ProbeLog:
        """A log's text; a line cut off by a write under way (the log read while the
        release appends to it) is not read yet."""
        records = []
        for line in text.splitlines():
            with contextlib.suppress(ValueError):
                records.append(json.loads(line))
        failed = [r for r in records if r.get("event") == LISTEN_FAILED]
        started = [r["t"] for r in records if r.get("event") == STARTED]
        probes = sorted(r["t"] for r in records if "path" in r and r.get("agent") != ignore_agent)
        return cls(
            tuple(probes),
            str(failed[0].get("error")) if failed else None,
            started[0] if started else None,
        )

    def gaps(self) -> list[float]:
        return [b - a for a, b in itertools.pairwise(self.probes)]


@dataclass(frozen=True, slots=True)
class Polling:
    """The policy's polling: every `interval_s`, for at most `deadline_s`, from the start of
    the release (`origin`; None: its first probe, which sees less)."""

    interval_s: float
    deadline_s: float

    @property
    def late_s(self) -> float:
        """How late a probe may be seen on a loaded machine."""
        return max(1.0, 0.2 * self.interval_s)

    @property
    def early_s(self) -> float:
        """How early a probe may come: an anchored schedule never polls early; this leaves
        room for a deploy that sleeps its interval less the time a poll took."""
        return 0.2 * self.interval_s

    @property
    def start_allowance_s(self) -> float:
        """From the release's start to the deploy's first poll (its restart call returning):
        less than an interval, so one poll past the deadline is still seen."""
        return 0.5 * self.interval_s

    def span(self, log: ProbeLog, origin: float | None) -> float:
        """From the release's start to the last probe it received."""
        if not log.probes:
            return 0.0
        return log.probes[-1] - (log.probes[0] if origin is None else origin)

    def overran(self, log: ProbeLog, origin: float | None) -> bool:
        """A probe came after the deadline (the deploy can be stopped at once)."""
        return (
            bool(log.probes) and self.span(log, origin) > self.deadline_s + self.start_allowance_s
        )

    def problems(self, log: ProbeLog, origin: float | None) -> Problems:
        if log.listen_error is not None:
            raise PreconditionError(
                f"the unready release planted for the drill could not listen: "
                f"{log.listen_error} (another process holds the service's port), so how the "
                "deploy polls it cannot be seen"
            )
        interval, deadline = self.interval_s, self.deadline_s
        problems = Problems("health polling of an unready release")
        count, span = len(log.probes), self.span(log, origin)
        problems.expect(count >= 2, "polls", f"{count} health probe(s) reached it")
        if not log.probes:
            return problems
        problems.expect(
            span <= deadline + self.start_allowance_s,
            "deadline",
            f"polled for {span:.1f} s after the release started, beyond the {deadline:g} s "
            "deadline",
        )
        problems.expect(
            span >= deadline - interval - self.late_s,
            "deadline",
            f"gave up {span:.1f} s after the release started, before the {deadline:g} s deadline",
        )
        start = log.probes[0] if origin is None else origin
        for number, at in enumerate(log.probes):
            allowed_from = start + number * interval - self.early_s
            if at < allowed_from:
                problems.add(
                    "interval",
                    f"probe {number + 1} came {at - start:.2f} s after the release started: "
                    f"more often than every {interval:g} s",
                )
                break
        if gaps := log.gaps():
            median = statistics.median(gaps)
            problems.expect(
                median <= interval + self.late_s,
                "interval",
                f"probes {median:.2f} s apart (median), less often than every {interval:g} s",
            )
        return problems
