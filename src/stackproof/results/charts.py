"""Inline SVG charts for the one-page report: no scripts, no external files."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from html import escape

from stackproof.results.model import Figure, Timeline

ROW_H = 22
LABEL_W = 300  # the timelines' label column
BAR_W = 360
COLOURS = {True: "#2e7d32", False: "#c62828", None: "#607d8b"}


def _label_width(labels: Sequence[str]) -> int:
    """Room for the longest label (about 7 px a character at 12 px), so none is cut off."""
    return min(max((len(label) for label in labels), default=10) * 7 + 12, 640)


def objective_shares(figures: Sequence[Figure]) -> str:
    """Only what compares: each figure held to an objective, as the share of that objective
    it uses (the limit at 100 %, whatever the unit), grouped by requirement in `figures`'
    order; a figure without an objective has nothing to be compared with and is left out."""
    held = [f for f in figures if f.share_of_objective is not None]
    if not held:
        return ""
    labels = [f"{f.name} ({f.value:.3g} {f.unit} of {f.objective:g})" for f in held]
    label_w = _label_width(labels)
    top = max(1.2, min(3.0, max(f.share_of_objective or 0.0 for f in held) * 1.05))
    rows = []
    for index, (figure, label) in enumerate(zip(held, labels, strict=True)):
        y = index * ROW_H + 20
        share = min(figure.share_of_objective or 0.0, top)
        width = max(1.0, BAR_W * share / top)
        colour = COLOURS[figure.meets_objective]
        rows.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{width:.1f}" height="{ROW_H - 8}" '
            f'fill="{colour}"><title>{escape(figure.test)}</title></rect>'
            f'<text x="{label_w + width + 4:.1f}" y="{y + 14}">'
            f"{100 * (figure.share_of_objective or 0.0):.0f} %</text>"
        )
    limit = label_w + BAR_W / top
    height = ROW_H * len(held) + 26
    rows.append(
        f'<line x1="{limit:.1f}" x2="{limit:.1f}" y1="16" y2="{height - 4}" stroke="#000" '
        f'stroke-dasharray="3,2"/><text x="{limit:.1f}" y="12" text-anchor="middle">'
        "objective (100 %)</text>"
    )
    total_w = label_w + BAR_W + 60
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height}" '
        f'font-family="sans-serif" font-size="12" role="img">{"".join(rows)}</svg>'
    )


# --- fault timelines --------------------------------------------------------------------

TIMELINE_ROW_H = 28
TIMELINE_W = 460
STATUS_COLOURS = {
    "ready": "#66bb6a",
    "unready": "#ef5350",
    "silent": "#9e9e9e",
    "pending": "#cfd8dc",
}


def _status_colour(status: int | None) -> str:
    if status is None:
        return STATUS_COLOURS["silent"]
    return STATUS_COLOURS["ready"] if status == 200 else STATUS_COLOURS["unready"]


def _tick_step(span: float) -> float:
    for step in (0.5, 1, 2, 5, 10, 20, 30, 60):
        if span / step <= 10:
            return step
    return 120.0


def _timeline_row(timeline: Timeline, y: float, scale: float) -> str:
    def x(seconds: float) -> float:
        return LABEL_W + seconds * scale

    label = escape(f"{timeline.fault} on {timeline.target} → {timeline.observed}")
    parts = [f'<text x="{LABEL_W - 6}" y="{y + 17}" text-anchor="end">{label}</text>']
    samples = list(timeline.samples)
    if samples and samples[0][0] > 0:  # the first look was still waiting for its answer
        parts.append(
            f'<rect x="{x(0):.1f}" y="{y + 11}" width="{samples[0][0] * scale:.1f}" '
            f'height="{TIMELINE_ROW_H - 22}" fill="{STATUS_COLOURS["pending"]}">'
            f"<title>0 to {samples[0][0]:.2f} s: awaiting the first answer</title></rect>"
        )
    for (start, status), (end, _) in itertools.pairwise(samples):
        parts.append(
            f'<rect x="{x(start):.1f}" y="{y + 6}" width="{max(0.5, (end - start) * scale):.1f}" '
            f'height="{TIMELINE_ROW_H - 12}" fill="{_status_colour(status)}">'
            f"<title>{start:.2f} to {end:.2f} s: {status or 'no answer'}</title></rect>"
        )
    marks = [
        (0.0, "#000", "", "fault injected at 0 s"),
        (timeline.removed_s, "#000", "4,3", f"fault removed at {timeline.removed_s} s"),
        (timeline.detected_s, "#b71c1c", "", f"detected after {timeline.detected_s} s"),
    ]
    if timeline.recovered_s is not None and timeline.removed_s is not None:
        recovered = timeline.removed_s + timeline.recovered_s
        marks.append((recovered, "#1b5e20", "", f"recovered {timeline.recovered_s} s after"))
    for at, colour, dash, title in marks:
        if at is None:
            continue
        parts.append(
            f'<line x1="{x(at):.1f}" x2="{x(at):.1f}" y1="{y + 2}" y2="{y + TIMELINE_ROW_H - 2}" '
            f'stroke="{colour}" stroke-width="2" stroke-dasharray="{dash}">'
            f"<title>{escape(title)}</title></line>"
        )
    return "".join(parts)


def timeline_chart(timelines: Sequence[Timeline]) -> str:
    """One row per fault: readiness over time (green 200, red unready, grey no answer),
    the fault's start and removal (black, dashed), detection (red) and recovery (green)."""
    if not timelines:
        return ""
    span = max((t.samples[-1][0] for t in timelines if t.samples), default=1.0) or 1.0
    scale = TIMELINE_W / span
    rows = [
        _timeline_row(timeline, index * TIMELINE_ROW_H + 5, scale)
        for index, timeline in enumerate(timelines)
    ]
    axis_y = len(timelines) * TIMELINE_ROW_H + 10
    step = _tick_step(span)
    ticks = []
    tick = 0.0
    while tick <= span + 1e-9:
        tx = LABEL_W + tick * scale
        ticks.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{axis_y}" y2="{axis_y + 4}" stroke="#000"/>'
            f'<text x="{tx:.1f}" y="{axis_y + 16}" text-anchor="middle">{tick:g} s</text>'
        )
        tick += step
    axis = (
        f'<line x1="{LABEL_W}" x2="{LABEL_W + TIMELINE_W}" y1="{axis_y}" y2="{axis_y}" '
        f'stroke="#000"/>{"".join(ticks)}'
    )
    height = axis_y + 26
    total_w = LABEL_W + TIMELINE_W + 40
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total_w}" height="{height}" '
        f'font-family="sans-serif" font-size="12" role="img">{"".join(rows)}{axis}</svg>'
    )
