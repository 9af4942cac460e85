"""Inline SVG charts for the one-page report: no scripts, no external files."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from html import escape

from stackproof.results.model import Figure, Timeline

ROW_H = 22
LABEL_W = 300
BAR_W = 360
COLOURS = {True: "#2e7d32", False: "#c62828", None: "#607d8b"}


def figure_bars(figures: Sequence[Figure]) -> str:
    """One bar per figure, its objective drawn as a line; red where the objective is missed."""
    if not figures:
        return ""
    scale = max(max(f.value, f.objective or 0.0) for f in figures) * 1.1 or 1.0
    height = ROW_H * len(figures) + 10
    rows = []
    for index, figure in enumerate(figures):
        y = index * ROW_H + 5
        width = max(1.0, BAR_W * figure.value / scale)
        colour = COLOURS[figure.meets_objective]
        label = escape(
            f"{figure.name} ({figure.test.rpartition('::')[2]})" if figure.test else figure.name
        )
        rows.append(
            f'<text x="{LABEL_W - 6}" y="{y + 14}" text-anchor="end">{label}</text>'
            f'<rect x="{LABEL_W}" y="{y + 3}" width="{width:.1f}" height="{ROW_H - 8}" '
            f'fill="{colour}"/>'
            f'<text x="{LABEL_W + width + 4:.1f}" y="{y + 14}">'
            f"{figure.value:.3g} {escape(figure.unit)}</text>"
        )
        if figure.objective is not None:
            x = LABEL_W + BAR_W * figure.objective / scale
            rows.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 1}" y2="{y + ROW_H - 3}" '
                f'stroke="#000" stroke-dasharray="3,2"><title>objective {figure.comparison} '
                f"{figure.objective:g} {escape(figure.unit)}</title></line>"
            )
    total_w = LABEL_W + BAR_W + 120
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
