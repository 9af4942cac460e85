"""Every check can fail: each mutant of the reference stack is caught by the checks it names."""

from __future__ import annotations

import json
import os

import pytest
from support import REFERENCE, ROOT, SUITES

from stackproof.mutants import discover
from stackproof.mutants.killmatrix import (
    Layout,
    MutantOutcome,
    kill_matrix,
    table,
    write_kill_matrix,
)

pytestmark = pytest.mark.stack

MUTANTS = discover(ROOT / "mutants")
KILL_MATRIX = ROOT / "reports" / "mutants" / "kill-matrix.json"


@pytest.fixture(scope="module")
def outcomes() -> dict[str, MutantOutcome]:
    layout = Layout(
        suites=SUITES, profile=REFERENCE, mutants=ROOT / "mutants", reports=KILL_MATRIX.parent
    )
    # Mutant runs mostly wait (deadlines, polls), so three side by side keep 2 cores busy.
    found = kill_matrix(
        MUTANTS, layout, jobs=int(os.environ.get("STACKPROOF_KILL_MATRIX_JOBS", "3"))
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
