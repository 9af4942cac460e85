"""Every check can fail: each mutant of the reference stack is caught by the checks it names."""

from __future__ import annotations

import json
import os

import pytest
from support import REFERENCE, ROOT, SUITES

from stackproof.mutants import discover
from stackproof.mutants.killmatrix import (
    COMPOSE_MUTANTS,
    Layout,
    MutantOutcome,
    compose_only,
    kill_matrix,
    table,
    write_kill_matrix,
)

pytestmark = pytest.mark.stack

ALL_MUTANTS = discover(ROOT / "mutants")
MUTANTS = [m for m in ALL_MUTANTS if not compose_only(m)]
KILL_MATRIX = ROOT / "reports" / "mutants" / "kill-matrix.json"


@pytest.fixture(scope="module")
def outcomes() -> dict[str, MutantOutcome]:
    layout = Layout(
        suites=SUITES, profile=REFERENCE, mutants=ROOT / "mutants", reports=KILL_MATRIX.parent
    )
    # Mutant runs mostly wait (deadlines, polls), so three side by side keep 2 cores busy.
    found = kill_matrix(
        MUTANTS,
        layout,
        jobs=int(os.environ.get("STACKPROOF_KILL_MATRIX_JOBS", "3")),
        backend="process",  # the profile's `auto` would pick compose where an engine answers
    )
    write_kill_matrix(found, KILL_MATRIX)
    print(table(found))
    return {outcome.name: outcome for outcome in found}


def test_there_are_mutants() -> None:
    assert len(MUTANTS) >= 16


@pytest.mark.parametrize("name", [m.name for m in MUTANTS])
def test_mutant_is_killed(name: str, outcomes: dict[str, MutantOutcome]) -> None:
    outcome = outcomes[name]
    assert outcome.killed, (
        f"{outcome.name} survived ({outcome.description}): verdicts {outcome.verdicts}\n{outcome.error}"
    )


def test_kill_matrix_file(outcomes: dict[str, MutantOutcome]) -> None:
    document = json.loads(KILL_MATRIX.read_text("utf-8"))
    names = [entry["name"] for entry in document["mutants"]]
    assert sorted(names) == sorted(outcomes)
    for entry in document["mutants"]:
        assert set(entry) >= {"name", "expects", "failed", "killed"}
        assert entry["killed"] == (set(entry["expects"]) <= set(entry["failed"]))


# -- the compose leg: a few mutants per suite on containers, and the compose-only ones ----------

ON_COMPOSE = [m for m in ALL_MUTANTS if m.name in COMPOSE_MUTANTS] + [
    m for m in ALL_MUTANTS if compose_only(m) and (SUITES / "host").is_dir()
]  # the compose-only mutants (hardening) are the host suite's, where it is


@pytest.fixture(scope="module")
def compose_outcomes() -> dict[str, MutantOutcome]:
    from compose_support import engine_or_skip  # noqa: PLC0415 - the containers' helpers

    engine_or_skip()
    layout = Layout(
        suites=SUITES, profile=REFERENCE, mutants=ROOT / "mutants", reports=KILL_MATRIX.parent
    )
    found = kill_matrix(ON_COMPOSE, layout, jobs=2, backend="compose")
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
        f"{outcome.verdicts}\n{outcome.error}"
    )
