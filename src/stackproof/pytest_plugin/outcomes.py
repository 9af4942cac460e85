"""From pytest's three phase reports per test to one outcome with a readable message."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from stackproof.checks.evidence import Evidence
from stackproof.results.model import Outcome, TestResult

MESSAGE_LIMIT = 6000  # characters: a message is for reading, the log holds the rest
# The first phase that did not pass decides: a broken setup is an error, not a failure.
PHASE_VERDICTS: tuple[tuple[str, dict[str, Outcome]], ...] = (
    ("setup", {"failed": "error", "skipped": "skip"}),
    ("call", {"failed": "fail", "skipped": "skip"}),
    ("teardown", {"failed": "error"}),
)


def describe(error: BaseException) -> str:
    """The error's own words and notes (hints, log tails), without a traceback."""
    if isinstance(error, pytest.fail.Exception | pytest.skip.Exception):
        text = str(error.msg)
    else:
        text = f"{type(error).__name__}: {error}"
    notes = getattr(error, "__notes__", None) or []
    full = "\n".join([text, *notes])
    return full if len(full) <= MESSAGE_LIMIT else full[:MESSAGE_LIMIT] + "\n[...]"


@dataclass
class _Phases:
    outcomes: dict[str, str] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0


class OutcomeCollector:
    def __init__(self) -> None:
        self._phases: dict[str, _Phases] = {}

    def observe(self, nodeid: str, report: pytest.TestReport, error: BaseException | None) -> None:
        phases = self._phases.setdefault(nodeid, _Phases())
        phases.outcomes[report.when] = report.outcome
        phases.duration_s += report.duration
        if report.skipped and isinstance(report.longrepr, tuple):
            phases.messages[report.when] = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif error is not None and not report.passed:
            phases.messages[report.when] = describe(error)

    def outcome(self, nodeid: str) -> tuple[Outcome, str | None] | None:
        """None when the test never got as far as a verdict (an interrupted run)."""
        phases = self._phases.get(nodeid)
        if phases is None:
            return None
        seen, said = phases.outcomes, phases.messages
        if "call" not in seen and seen.get("setup") == "passed":
            return None
        for phase, verdicts in PHASE_VERDICTS:
            verdict = verdicts.get(seen.get(phase, ""))
            if verdict is not None:
                return verdict, said.get(phase)
        return "pass", None

    def result(
        self, nodeid: str, requirements: tuple[str, ...], evidence: Evidence | None
    ) -> TestResult | None:
        found = self.outcome(nodeid)
        if found is None:
            return None
        outcome, message = found
        return TestResult(
            nodeid=nodeid,
            requirements=requirements,
            outcome=outcome,
            duration_s=round(self._phases[nodeid].duration_s, 3),
            message=message,
            evidence=tuple(evidence.items) if evidence else (),
            figures=tuple(evidence.figures) if evidence else (),
            timelines=tuple(evidence.timelines) if evidence else (),
        )
