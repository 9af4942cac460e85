"""From test outcomes to one verdict per requirement of the catalog.

A requirement's tests give, in this order of precedence:

- `fail` if any test failed (a finding about the stack);
- else `error` if any errored (something kept a check from judging);
- else `partial` if some passed and some skipped (part of it was not tested);
- `pass` if all passed, `skip` if all skipped, `not_covered` if it has no test.

Under an active waiver a `fail` or `error` is `waived`; so is any verdict but `skip` and
`not_covered` of a requirement whose policy values the profile loosened (it was held to less
than the catalog asks, which only the waiver allows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from stackproof.catalog import Requirement
from stackproof.profile.model import Waiver
from stackproof.profile.policy import PolicyValue
from stackproof.results.model import (
    Outcome,
    PolicyRecord,
    RequirementResult,
    Results,
    RunInfo,
    TestResult,
    TestSummary,
    Untested,
    Verdict,
    WaiverInfo,
)

NO_REASON = "skipped without a reason"


def requirement_verdict(outcomes: Iterable[Outcome]) -> Verdict:
    """fail > error > partial (passes and skips) > pass > skip; no test is not_covered."""
    seen = set(outcomes)
    if "fail" in seen:
        return "fail"
    if "error" in seen:
        return "error"
    if seen == {"pass", "skip"}:
        return "partial"
    if "pass" in seen:
        return "pass"
    return "skip" if "skip" in seen else "not_covered"


def _waiver_info(waiver: Waiver | None, today: dt.date) -> WaiverInfo | None:
    if waiver is None:
        return None
    return WaiverInfo(waiver.reason, waiver.expires.isoformat(), waiver.active(today))


def _waived(verdict: Verdict, waiver: WaiverInfo | None, loosened: bool) -> Verdict:
    if waiver is None or not waiver.active:
        return verdict
    if verdict in ("fail", "error") or (loosened and verdict in ("pass", "partial")):
        return "waived"
    return verdict


def policy_records(
    values: Sequence[PolicyValue], waivers: dict[str, WaiverInfo | None]
) -> tuple[PolicyRecord, ...]:
    return tuple(
        PolicyRecord(
            key=v.key,
            requirement=v.requirement,
            catalog=v.catalog,
            used=v.used,
            direction=v.direction,
            waiver=waivers.get(v.requirement),
        )
        for v in values
    )


def build_results(
    run: RunInfo,
    tests: Sequence[TestResult],
    catalog: Sequence[Requirement],
    waivers: Sequence[Waiver] = (),
    *,
    today: dt.date | None = None,
    policy: Sequence[PolicyValue] = (),
) -> Results:
    day = today or dt.date.today()
    waiver_by_id = {waiver.id: _waiver_info(waiver, day) for waiver in waivers}
    requirements = []
    for requirement in catalog:
        mine = [test for test in tests if requirement.id in test.requirements]
        verdict = requirement_verdict(test.outcome for test in mine)
        waiver = waiver_by_id.get(requirement.id)
        loosened = tuple(
            v.key for v in policy if v.requirement == requirement.id and v.direction == "looser"
        )
        untested = tuple(
            Untested(t.nodeid, t.message or NO_REASON) for t in mine if t.outcome == "skip"
        )
        requirements.append(
            RequirementResult(
                id=requirement.id,
                title=requirement.title,
                suite=requirement.suite,
                verdict=_waived(verdict, waiver, bool(loosened)),
                tests=tuple(
                    TestSummary(t.nodeid, t.outcome, t.duration_s, t.message) for t in mine
                ),
                evidence=tuple(item for t in mine for item in t.evidence),
                figures=tuple(figure for t in mine for figure in t.figures),
                waiver=waiver,
                timelines=tuple(timeline for t in mine for timeline in t.timelines),
                untested=untested,
                loosened=loosened,
            )
        )
    return Results(
        run=run, requirements=tuple(requirements), policy=policy_records(policy, waiver_by_id)
    )


def failures_all_waived(results: Results, tests: Sequence[TestResult]) -> bool:
    """True when every failed or errored test proves only waived requirements."""
    waived = set(results.with_verdict("waived"))
    bad = [t for t in tests if t.outcome in ("fail", "error")]
    return bool(bad) and all(set(t.requirements) <= waived for t in bad)


def run_exit_status(results: Results, tests: Sequence[TestResult], status: int) -> int:
    """The run's exit status from pytest's (`status`) and the verdicts.

    Failures and errors that all fall under active waivers do not fail the run; with
    `--strict` (`results.run.strict`), a counted requirement that is partial, skipped or not
    covered does (counted: those chosen with --requirement, else every one of the catalog).
    An interrupted or unusable run keeps pytest's status.
    """
    tests_failed, ok, no_tests = 1, 0, 5  # pytest.ExitCode, without importing pytest here
    if status == tests_failed and failures_all_waived(results, tests):
        status = ok
    if results.run.strict and status in (ok, no_tests) and results.unproven():
        status = tests_failed
    return status
