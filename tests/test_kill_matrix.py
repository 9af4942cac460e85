"""Every check can fail: each mutant of the reference stack is caught by a `fail` of the checks
it names, and every test of the suites is failed by some mutant (or listed, with the reason,
in mutants/unkillable.toml).

Each mutant is a test of its own (`test_mutant_is_killed[<name>]`) that runs its mutant and
leaves a record on disk; the last test reads the records. Until pytest-xdist spreads the
mutants over workers, the runs of the selected mutants start in the background, three side by
side (`STACKPROOF_KILL_MATRIX_JOBS`), in the order their tests come, and each test waits for
its own; under xdist each worker runs its mutants one by one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from support import REFERENCE, ROOT, SUITES

from stackproof.mutants import discover
from stackproof.mutants.coverage import collect_suite_tests, per_test_coverage
from stackproof.mutants.killmatrix import (
    Layout,
    MutantRuns,
    read_records,
    table,
    write_kill_matrix,
)
from stackproof.mutants.unkillable import load_unkillable

pytestmark = pytest.mark.stack

MUTANTS = discover(ROOT / "mutants")
LAYOUT = Layout(
    suites=SUITES, profile=REFERENCE, mutants=ROOT / "mutants", reports=ROOT / "reports" / "mutants"
)
KILL_MATRIX = LAYOUT.reports / "kill-matrix.json"
# The host suite judges a host's settings, which no mutant of the reference stack's tree can
# change: its tests are failed by the host mutants (tests/test_staging_hosts.py proves it).
HOST_SUITE = "host/"


def _selected_mutants(session: pytest.Session) -> list[str]:
    names = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if item.originalname == "test_mutant_is_killed" and callspec is not None:  # type: ignore[attr-defined]
            names.append(callspec.params["name"])
    return names


@pytest.fixture(scope="module")
def mutant_runs(request: pytest.FixtureRequest) -> Iterator[MutantRuns]:
    chosen = set(_selected_mutants(request.session))
    jobs = int(os.environ.get("STACKPROOF_KILL_MATRIX_JOBS", "3"))
    if "PYTEST_XDIST_WORKER" in os.environ:
        jobs = 0  # a worker gets its mutants one by one; xdist runs them side by side
    runs = MutantRuns([m for m in MUTANTS if m.name in chosen], LAYOUT, jobs)
    try:
        yield runs
    finally:
        runs.close()


def test_there_are_mutants() -> None:
    assert len(MUTANTS) >= 16


@pytest.mark.parametrize("name", [m.name for m in MUTANTS])
def test_mutant_is_killed(name: str, mutant_runs: MutantRuns) -> None:
    outcome = mutant_runs.outcome(name)
    print(table([outcome]))
    assert outcome.killed, (
        f"{outcome.name} survived ({outcome.description}): verdicts {outcome.verdicts}, "
        f"errors {outcome.errored_tests}\n{outcome.error}"
    )


def test_every_suite_test_is_failed_by_a_mutant() -> None:
    """Reads the records the mutants' runs left; a stale or missing one says which to rerun."""
    records = read_records(LAYOUT, MUTANTS)
    missing = sorted(name for name, record in records.items() if record is None)
    assert not missing, (
        f"no current record of {len(missing)} mutant(s) (never run, or changed since): "
        f"{', '.join(missing)}; run them: pytest tests/test_kill_matrix.py"
    )
    outcomes = [record for record in records.values() if record is not None]
    suite_tests = [t for t in collect_suite_tests(LAYOUT) if not t.startswith(HOST_SUITE)]
    coverage = per_test_coverage(
        LAYOUT, outcomes, load_unkillable(LAYOUT.mutants), tests=suite_tests
    )
    write_kill_matrix(outcomes, KILL_MATRIX, coverage)
    assert not coverage.problems(), "\n".join(coverage.problems())
    document = json.loads(KILL_MATRIX.read_text("utf-8"))
    assert set(document["killed_by"]) == set(coverage.tests)
    for entry in document["mutants"]:
        assert set(entry) >= {"name", "expects", "failed_tests", "killed"}
