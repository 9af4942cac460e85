"""From test outcomes to one verdict per requirement of the catalog."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from stackproof.catalog import Requirement
from stackproof.profile.model import Waiver
from stackproof.results.model import (
    Outcome,
    RequirementResult,
    Results,
    RunInfo,
    TestResult,
    TestSummary,
    Verdict,
    WaiverInfo,
)


def requirement_verdict(outcomes: Iterable[Outcome]) -> Verdict:
    """A failure outweighs an error, an error a pass, a pass a skip; no test is not_covered."""
    seen = set(outcomes)
    for verdict in ("fail", "error", "pass", "skip"):
        if verdict in seen:
            return verdict
    return "not_covered"


def _waiver_info(waiver: Waiver | None, today: dt.date) -> WaiverInfo | None:
    if waiver is None:
        return None
    return WaiverInfo(waiver.reason, waiver.expires.isoformat(), waiver.active(today))


def build_results(
    run: RunInfo,
    tests: Sequence[TestResult],
    catalog: Sequence[Requirement],
    waivers: Sequence[Waiver] = (),
    today: dt.date | None = None,
) -> Results:
    day = today or dt.date.today()
    waiver_by_id = {waiver.id: waiver for waiver in waivers}
    requirements = []
    for requirement in catalog:
        mine = [test for test in tests if requirement.id in test.requirements]
        verdict = requirement_verdict(test.outcome for test in mine)
        waiver = _waiver_info(waiver_by_id.get(requirement.id), day)
        if waiver is not None and waiver.active and verdict in ("fail", "error"):
            verdict = "waived"
        requirements.append(
            RequirementResult(
                id=requirement.id,
                title=requirement.title,
                suite=requirement.suite,
                verdict=verdict,
                tests=tuple(
                    TestSummary(t.nodeid, t.outcome, t.duration_s, t.message) for t in mine
                ),
                evidence=tuple(item for t in mine for item in t.evidence),
                figures=tuple(figure for t in mine for figure in t.figures),
                waiver=waiver,
                timelines=tuple(timeline for t in mine for timeline in t.timelines),
            )
        )
    return Results(run=run, requirements=tuple(requirements))


def failures_all_waived(results: Results, tests: Sequence[TestResult]) -> bool:
    """True when every failed or errored test proves only waived requirements."""
    waived = set(results.with_verdict("waived"))
    bad = [t for t in tests if t.outcome in ("fail", "error")]
    return bool(bad) and all(set(t.requirements) <= waived for t in bad)
