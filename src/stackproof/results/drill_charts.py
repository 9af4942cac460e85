"""Charts of drills, filed as evidence: lanes of an operation over time, and distributions.

A test files a chart as evidence whose data is a mapping with a "chart" key (see
`timeline_payload` and `distribution_payload`); the report draws each one. They stay plain
data in results.json, so any other tool can draw them too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

TONES = {"ok": "#2e7d32", "bad": "#c62828", "info": "#1565c0", "neutral": "#90a4ae"}
LANE_H = 26
LANE_LABEL_W = 170
PLOT_W = 620
CHAR_W = 6.2  # an average glyph at font-size 11
COLOURS = {True: "#2e7d32", False: "#c62828", None: "#607d8b"}  # meets the objective or not


@dataclass(frozen=True, slots=True)
class Span:
    start: float
    end: float
    label: str
    tone: str = "neutral"


@dataclass(frozen=True, slots=True)
class Mark:
    at: float
    label: str


@dataclass(frozen=True, slots=True)
class Lane:
    label: str
    spans: tuple[Span, ...] = ()
    marks: tuple[Mark, ...] = ()


def timeline_payload(title: str, lanes: Sequence[Lane]) -> dict[str, Any]:
    return {
        "chart": "timeline",
        "title": title,
        "lanes": [
            {
                "label": lane.label,
                "spans": [[s.start, s.end, s.label, s.tone] for s in lane.spans],
                "marks": [[m.at, m.label] for m in lane.marks],
            }
            for lane in lanes
        ],
    }


def distribution_payload(
    title: str,
    unit: str,
    values: Sequence[tuple[str, float]],
    objective: float | None,
    markers: Mapping[str, float],
) -> dict[str, Any]:
    return {
        "chart": "distribution",
        "title": title,
        "unit": unit,
        "values": [[label, value] for label, value in values],
        "objective": objective,
        "markers": dict(markers),
    }


def _svg(width: float, height: float, body: str, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'font-family="sans-serif" font-size="11" role="img"><title>{escape(title)}</title>'
        f'<text x="0" y="13" font-size="13" font-weight="600">{escape(title)}</text>{body}</svg>'
    )


def lanes_chart(title: str, lanes: Sequence[Lane]) -> str:
    """Lanes of spans (coloured by tone) and marks on one time axis, in seconds."""
    times = [t for lane in lanes for s in lane.spans for t in (s.start, s.end)]
    times += [m.at for lane in lanes for m in lane.marks]
    if not times:
        return ""
    low, high = min(0.0, *times), max(times)
    scale = PLOT_W / ((high - low) or 1.0)

    def x(t: float) -> float:
        return LANE_LABEL_W + (t - low) * scale

    parts = []
    top = 24
    for index, lane in enumerate(lanes):
        y = top + index * LANE_H
        parts.append(
            f'<text x="{LANE_LABEL_W - 6}" y="{y + 15}" text-anchor="end">'
            f"{escape(lane.label)}</text>"
        )
        for span in lane.spans:
            width = max(1.5, (span.end - span.start) * scale)
            parts.append(
                f'<rect x="{x(span.start):.1f}" y="{y + 4}" width="{width:.1f}" '
                f'height="{LANE_H - 10}" fill="{TONES.get(span.tone, TONES["neutral"])}" '
                f'opacity="0.85"><title>{escape(span.label)}: {span.start:.2f} to {span.end:.2f} s'
                "</title></rect>"
            )
            if width >= CHAR_W * len(span.label) + 6:  # label inside when it fits
                parts.append(
                    f'<text x="{x(span.start) + 3:.1f}" y="{y + 16}" fill="#fff">'
                    f"{escape(span.label)}</text>"
                )
        for mark in lane.marks:
            parts.append(
                f'<line x1="{x(mark.at):.1f}" x2="{x(mark.at):.1f}" y1="{y + 2}" '
                f'y2="{y + LANE_H - 4}" stroke="#000" stroke-width="1.5">'
                f"<title>{escape(mark.label)} at {mark.at:.2f} s</title></line>"
            )
    axis_y = top + len(lanes) * LANE_H + 4
    step = _nice_step((high - low) / 6)
    tick = low - (low % step) if low % step else low
    while tick <= high + 1e-9:
        parts.append(
            f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top}" y2="{axis_y}" '
            f'stroke="#ccc" stroke-dasharray="2,3"/>'
            f'<text x="{x(tick):.1f}" y="{axis_y + 12}" text-anchor="middle">'
            f"{round(tick, 9) + 0.0:g} s</text>"  # no -0 or 1e-17 from float steps
        )
        tick += step
    return _svg(LANE_LABEL_W + PLOT_W + 20, axis_y + 20, "".join(parts), title)


def _nice_step(raw: float) -> float:
    if raw <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    return float(next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw))


def distribution_chart(
    title: str,
    unit: str,
    values: Sequence[tuple[str, float]],
    objective: float | None,
    markers: Mapping[str, float],
) -> str:
    """One dot per measure on a log axis, with percentile ticks and the objective line.

    Log scale, because an objective (30 min) and what a drill measures (seconds) are orders
    of magnitude apart; the objective stays visible beside the measures.
    """
    positive = [v for _, v in values if v > 0] + [v for v in markers.values() if v > 0]
    if objective:
        positive.append(objective)
    if not positive:
        return ""
    low = 10 ** math.floor(math.log10(min(positive)))
    high = 10 ** math.ceil(math.log10(max(positive)) + 1e-9)
    span = math.log10(high) - math.log10(low) or 1.0

    def x(value: float) -> float:
        value = max(value, low)
        return LANE_LABEL_W + PLOT_W * (math.log10(value) - math.log10(low)) / span

    parts = []
    dots_y = 40
    for label, value in values:
        parts.append(
            f'<circle cx="{x(value):.1f}" cy="{dots_y}" r="5" fill="{TONES["info"]}" '
            f'opacity="0.7"><title>{escape(label)}: {value:.3g} {escape(unit)}</title></circle>'
        )
    parts.append(
        f'<text x="{LANE_LABEL_W - 6}" y="{dots_y + 4}" text-anchor="end">'
        f"{len(values)} measure(s)</text>"
    )
    for index, (name, value) in enumerate(markers.items()):
        y = dots_y + 18 + index * 14
        parts.append(
            f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="{dots_y - 10}" y2="{y - 3}" '
            f'stroke="#555"/><text x="{x(value) + 3:.1f}" y="{y}">'
            f"{escape(name)} {value:.3g} {escape(unit)}</text>"
        )
    axis_y = dots_y + 24 + len(markers) * 14
    if objective:
        meets = all(v <= objective for _, v in values)
        colour = COLOURS[meets]
        parts.append(
            f'<line x1="{x(objective):.1f}" x2="{x(objective):.1f}" y1="{dots_y - 16}" '
            f'y2="{axis_y}" stroke="{colour}" stroke-width="2" stroke-dasharray="5,3"/>'
            f'<text x="{x(objective) - 3:.1f}" y="{dots_y - 18}" text-anchor="end" '
            f'fill="{colour}">objective {objective:g} {escape(unit)}</text>'
        )
    decade = low
    while decade <= high * 1.0001:
        parts.append(
            f'<line x1="{x(decade):.1f}" x2="{x(decade):.1f}" y1="{axis_y}" y2="{axis_y + 4}" '
            f'stroke="#000"/><text x="{x(decade):.1f}" y="{axis_y + 15}" '
            f'text-anchor="middle">{decade:g}</text>'
        )
        decade *= 10
    parts.append(
        f'<line x1="{LANE_LABEL_W}" x2="{LANE_LABEL_W + PLOT_W}" y1="{axis_y}" y2="{axis_y}" '
        f'stroke="#000"/><text x="{LANE_LABEL_W + PLOT_W + 4}" y="{axis_y + 4}">'
        f"{escape(unit)} (log)</text>"
    )
    return _svg(LANE_LABEL_W + PLOT_W + 60, axis_y + 24, "".join(parts), title)


def chart_from_payload(data: object) -> str:
    """Draw a chart filed as evidence; "" for anything that is not a well-formed chart."""
    if not isinstance(data, Mapping):
        return ""
    try:
        if data.get("chart") == "timeline":
            lanes = [
                Lane(
                    str(lane["label"]),
                    tuple(Span(float(a), float(b), str(c), str(d)) for a, b, c, d in lane["spans"]),
                    tuple(Mark(float(t), str(text)) for t, text in lane["marks"]),
                )
                for lane in data["lanes"]
            ]
            return lanes_chart(str(data["title"]), lanes)
        if data.get("chart") == "distribution":
            objective = data.get("objective")
            return distribution_chart(
                str(data["title"]),
                str(data["unit"]),
                [(str(label), float(value)) for label, value in data["values"]],
                None if objective is None else float(objective),
                {str(k): float(v) for k, v in data["markers"].items()},
            )
    except (KeyError, TypeError, ValueError):
        return ""
    return ""
