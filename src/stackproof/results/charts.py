"""Inline SVG charts for the one-page report: no scripts, no external files."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from stackproof.results.model import Figure

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
