"""Collect everything wrong under stable keys, then fail once listing all of it."""

from __future__ import annotations

import pytest


class Problems:
    def __init__(self, what: str) -> None:
        self.what = what
        self._found: dict[str, list[str]] = {}

    def add(self, key: str, message: str) -> None:
        self._found.setdefault(key, []).append(message)

    def expect(self, condition: bool, key: str, message: str) -> bool:
        if not condition:
            self.add(key, message)
        return condition

    def __bool__(self) -> bool:
        return bool(self._found)

    @property
    def found(self) -> dict[str, list[str]]:
        return {key: list(messages) for key, messages in self._found.items()}

    def report(self) -> str:
        count = sum(len(messages) for messages in self._found.values())
        lines = [f"{self.what}: {count} problem(s)"]
        for key, messages in self._found.items():
            lines.extend(f"  - [{key}] {message}" for message in messages)
        return "\n".join(lines)

    def raise_if_any(self) -> None:
        __tracebackhide__ = True
        if self._found:
            pytest.fail(self.report(), pytrace=False)
