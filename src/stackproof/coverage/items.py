"""The needs of a collected suite test: its `needs` marker's, its fixtures', and `destructive`."""

from __future__ import annotations

import pytest

from stackproof.coverage.needs import Need, needs_of


def requirements_of(item: pytest.Item) -> tuple[str, ...]:
    return tuple(i for marker in item.iter_markers("requirement") for i in marker.args)


def item_needs(item: pytest.Item) -> list[Need]:
    marked = [name for marker in item.iter_markers("needs") for name in marker.args]
    fixtures = getattr(item, "fixturenames", ())
    destructive = item.get_closest_marker("destructive") is not None
    return needs_of(marked, fixtures, destructive=destructive)
