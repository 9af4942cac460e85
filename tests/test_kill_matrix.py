"""Every check can fail: each mutant of the reference stack is caught by a `fail` of the checks
it names, and every test of the suites is failed by some mutant (or listed, with the reason,
in mutants/unkillable.toml).

Each mutant is a test of its own (`test_mutant_is_killed[<name>]`) that runs its mutant and
leaves a record on disk; the last test reads the records. Until pytest-xdist spreads the
mutants over workers, the runs of the selected mutants start in the background, three side by
side (`STACKPROOF_KILL_MATRIX_JOBS`), in the order their tests come, and each test waits for
its own; under xdist each worker runs its mutants one by one. These runs use the process
backend (the profile's `auto` would pick compose where an engine answers).

The compose leg (`test_mutant_is_killed_on_compose[<name>]`, marked `containers`) runs a few
mutants per suite on the compose backend, and the compose-only ones (compose-*: hardening as
`docker inspect` shows it, judged by the host suite); its table goes to
kill-matrix-compose.json.
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
    COMPOSE_MUTANTS,
    Layout,
    MutantOutcome,
    MutantRuns,
    compose_only,
    kill_matrix,
    read_records,
    table,
    write_kill_matrix,
)
from stackproof.mutants.unkillable import load_unkillable

pytestmark = pytest.mark.stack

ALL_MUTANTS = discover(ROOT / "mutants")
MUTANTS = [m for m in ALL_MUTANTS if not compose_only(m)]
BACKEND = "process"  # the profile's `auto` would pick compose where an engine answers
LAYOUT = Layout(
    suites=SUITES, profile=REFERENCE, mutants=ROOT / "mutants", reports=ROOT / "reports" / "mutants"
)
KILL_MATRIX = LAYOUT.reports / "kill-matrix.json"
# The host suite judges a host's settings, which no mutant of the reference stack's tree can
# change: its tests are failed by the host mutants (tests/test_staging_hosts.py proves it).
HOST_SUITE = "host/"


def _selected_mutants(session: pytest.Session, test: str = "test_mutant_is_killed") -> list[str]:
    names = []
    for item in session.items:
        callspec = getattr(item, "callspec", None)
        if item.originalname == test and callspec is not None:  # type: ignore[attr-defined]
            names.append(callspec.params["name"])
    return names


@pytest.fixture(scope="module")
def mutant_runs(request: pytest.FixtureRequest) -> Iterator[MutantRuns]:
    chosen = set(_selected_mutants(request.session))
    jobs = int(os.environ.get("STACKPROOF_KILL_MATRIX_JOBS", "3"))
    if "PYTEST_XDIST_WORKER" in os.environ:
        jobs = 0  # a worker gets its mutants one by one; xdist runs them side by side
    runs = MutantRuns([m for m in MUTANTS if m.name in chosen], LAYOUT, jobs, BACKEND)
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
    records = read_records(LAYOUT, MUTANTS, BACKEND)
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


# -- the compose leg: a few mutants per suite on containers, and the compose-only ones ----------

ON_COMPOSE = [m for m in ALL_MUTANTS if m.name in COMPOSE_MUTANTS] + [
    m for m in ALL_MUTANTS if compose_only(m) and (SUITES / "host").is_dir()
]  # the compose-only mutants (hardening) are the host suite's, where it is


@pytest.fixture(scope="module")
def compose_outcomes(request: pytest.FixtureRequest) -> dict[str, MutantOutcome]:
    from compose_support import engine_or_skip  # noqa: PLC0415 - the containers' helpers

    engine_or_skip()
    chosen = set(_selected_mutants(request.session, "test_mutant_is_killed_on_compose"))
    found = kill_matrix(
        [m for m in ON_COMPOSE if m.name in chosen], LAYOUT, jobs=2, backend="compose"
    )
    write_kill_matrix(found, KILL_MATRIX.with_name("kill-matrix-compose.json"))
    print(table(found))
    return {outcome.name: outcome for outcome in found}


def test_every_compose_mutant_exists() -> None:
    assert set(COMPOSE_MUTANTS) <= {m.name for m in ALL_MUTANTS}


@pytest.mark.containers
@pytest.mark.parametrize("name", [m.name for m in ON_COMPOSE])
def test_mutant_is_killed_on_compose(name: str, compose_outcomes: dict[str, MutantOutcome]) -> None:
    outcome = compose_outcomes[name]
    assert outcome.killed, (
        f"{outcome.name} survived on compose ({outcome.description}): verdicts "
        f"{outcome.verdicts}, errors {outcome.errored_tests}\n{outcome.error}"
    )
