"""Stacks that broke under the run: a service exited on its own after the stack was up.

Every test of such a stack, from the one it broke under on, is `error` with that one cause;
the cause itself (service, exit status, log tail) is told once, at the top of the console
summary and of the report, not repeated per test.
"""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from stackproof.backends import Stack, StackFailure
from stackproof.results.model import StackFailureInfo

TOLD_AT = "see the top of the report"


def stacks_of(item: pytest.Item) -> list[Stack]:
    """The stacks a test uses: its fixtures' values (`stack`, `own_stack`, any Stack among
    them), and before its setup the ones earlier tests made (session or module scope)."""
    found: dict[int, Stack] = {}
    values = list(getattr(item, "funcargs", {}).values())
    # Before setup, a fixture of a wider scope already holds its stack: a test of a broken
    # stack must not even run its fixtures (they would talk to what is left of it).
    info = getattr(item, "_fixtureinfo", None)
    for definitions in getattr(info, "name2fixturedefs", {}).values():
        cached = getattr(definitions[-1], "cached_result", None) if definitions else None
        if cached is not None and cached[2] is None:
            values.append(cached[0])
    for value in values:
        if isinstance(value, Stack):
            found.setdefault(id(value), value)
    return list(found.values())


class BrokenStacks:
    """The first failure of each stack of the run, by label; once broken, a stack stays so."""

    def __init__(self) -> None:
        self._first: dict[str, StackFailure] = {}
        self.errors: list[str] = []  # a backend whose failure() itself failed

    def among(self, stacks: Iterable[Stack]) -> list[tuple[str, StackFailure]]:
        """The broken ones among `stacks`, asking each one not yet known broken."""
        broken = []
        for stack in stacks:
            if stack.label not in self._first:
                try:
                    failure = stack.failure()
                except Exception as error:  # a harness bug: said once, never a crash here
                    said = f"stack {stack.label!r}: failure() raised {error!r}"
                    if said not in self.errors:
                        self.errors.append(said)
                    continue
                if failure is None:
                    continue
                self._first[stack.label] = failure
            broken.append((stack.label, self._first[stack.label]))
        return broken

    def records(self) -> tuple[StackFailureInfo, ...]:
        return tuple(
            StackFailureInfo(label, f.service, f.exit_status, f.detail, f.log_tail)
            for label, f in self._first.items()
        )


def broken_message(broken: list[tuple[str, StackFailure]]) -> str:
    """What each test of a broken stack says: the cause in one line, told in full once."""
    return "; ".join(
        f"stack {label!r} broken: service {f.service!r} {f.detail} ({TOLD_AT})"
        for label, f in broken
    )
