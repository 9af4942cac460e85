"""What a test saw and measured, kept for the report."""

from __future__ import annotations

from typing import Any, Literal

from stackproof.results.model import EvidenceItem, Figure, Timeline

MAX_ITEMS = 60  # a report is read by a person; the first exchanges tell the story


class Evidence:
    """Collected by one test; the plugin files it under the test's requirements."""

    def __init__(self, test: str) -> None:
        self.test = test
        self.items: list[EvidenceItem] = []
        self.figures: list[Figure] = []
        self.timelines: list[Timeline] = []
        self.dropped = 0

    def add(self, label: str, data: Any) -> None:
        if len(self.items) >= MAX_ITEMS:
            self.dropped += 1
            return
        self.items.append(EvidenceItem(label, data, self.test))

    def figure(
        self,
        name: str,
        value: float,
        unit: str,
        *,
        objective: float | None = None,
        comparison: Literal["<=", ">="] | None = None,
    ) -> Figure:
        figure = Figure(name, round(value, 6), unit, objective, comparison, self.test)
        self.figures.append(figure)
        return figure

    def timeline(self, timeline: Timeline) -> Timeline:
        """A fault's course (see `results.model.Timeline`), drawn in the report."""
        self.timelines.append(timeline)
        return timeline
