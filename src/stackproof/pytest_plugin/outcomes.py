"""From pytest's three phase reports per test to one outcome with a readable message.

The rules (a release gate acts on them, so `fail` must mean a finding about the stack):

- in the test body, an `AssertionError` (a plain `assert`) or `pytest.fail` (what
  `Problems.raise_if_any` raises) is `fail`: the check's own finding;
- `pytest.skip`, and a `CapabilityMissingError` anywhere before the test's teardown, is
  `skip`, with its reason (and what would enable the check);
- every other exception is `error` with its message: a `PreconditionError` (not steady
  before a fault, an endpoint that cannot be reached), an OS or HTTP error, a harness bug;
- a failed setup or teardown is `error`: the check never judged.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from stackproof.checks.evidence import Evidence
from stackproof.errors import CapabilityMissingError
from stackproof.results.model import Outcome, TestResult

MESSAGE_LIMIT = 6000  # characters: a message is for reading, the log holds the rest
PHASES = ("setup", "call", "teardown")  # the first phase that did not pass decides


def _leaves(error: BaseException) -> list[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        return [leaf for inner in error.exceptions for leaf in _leaves(inner)]
    return [error]


def is_finding(error: BaseException) -> bool:
    """A check's own finding: an assertion or `pytest.fail` (one of a group suffices)."""
    return any(isinstance(e, AssertionError | pytest.fail.Exception) for e in _leaves(error))


def capability_missing(error: BaseException) -> CapabilityMissingError | None:
    """The missing capability when that is all that went wrong, else None."""
    leaves = _leaves(error)
    if all(isinstance(e, CapabilityMissingError) for e in leaves):
        first = leaves[0]
        assert isinstance(first, CapabilityMissingError)
        return first
    return None


def classify(when: str, error: BaseException) -> Outcome:
    """The outcome an exception gives the test in phase `when` (setup, call, teardown)."""
    if when != "teardown" and capability_missing(error) is not None:
        return "skip"
    if when == "call" and is_finding(error):
        return "fail"
    return "error"


def describe(error: BaseException) -> str:
    """The error's own words and notes (hints, log tails), without a traceback."""
    if isinstance(error, pytest.fail.Exception | pytest.skip.Exception):
        text = str(error.msg)
    elif isinstance(error, CapabilityMissingError):
        text = error.reason()
    else:
        text = f"{type(error).__name__}: {error}"
    notes = getattr(error, "__notes__", None) or []
    full = "\n".join([text, *notes])
    return full if len(full) <= MESSAGE_LIMIT else full[:MESSAGE_LIMIT] + "\n[...]"


@dataclass
class _Phases:
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    duration_s: float = 0.0
    override: tuple[Outcome, str] | None = None  # decided from outside (a broken stack)


class OutcomeCollector:
    def __init__(self) -> None:
        self._phases: dict[str, _Phases] = {}

    def observe(self, nodeid: str, report: pytest.TestReport, error: BaseException | None) -> None:
        phases = self._phases.setdefault(nodeid, _Phases())
        phases.duration_s += report.duration
        if report.passed:
            phases.outcomes[report.when] = "pass"
            return
        if report.skipped:
            phases.outcomes[report.when] = "skip"
            if isinstance(report.longrepr, tuple):
                phases.messages[report.when] = str(report.longrepr[2]).removeprefix("Skipped: ")
            return
        outcome: Outcome = "error" if error is None else classify(report.when, error)
        phases.outcomes[report.when] = outcome
        if error is not None:
            phases.messages[report.when] = describe(error)

    def override(self, nodeid: str, outcome: Outcome, message: str) -> None:
        """Give the test this outcome whatever its phases said (the stack broke under it)."""
        self._phases.setdefault(nodeid, _Phases()).override = (outcome, message)

    def outcome(self, nodeid: str) -> tuple[Outcome, str | None] | None:
        """None when the test never got as far as a verdict (an interrupted run)."""
        phases = self._phases.get(nodeid)
        if phases is None:
            return None
        if phases.override is not None:
            return phases.override
        seen, said = phases.outcomes, phases.messages
        if "call" not in seen and seen.get("setup") == "pass":
            return None
        for phase in PHASES:
            found = seen.get(phase)
            if found is not None and found != "pass":
                return found, said.get(phase)
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
