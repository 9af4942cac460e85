"""The kill matrix's rules, without running a stack: only `fail` kills, a mutant's named tests
must each fail, and every test of the suites is failed by some mutant or listed as unkillable."""

from __future__ import annotations

import dataclasses
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from support import REFERENCE, ROOT, SUITES, suites_command

from stackproof.errors import MutantError
from stackproof.mutants import discover, load_mutant
from stackproof.mutants.coverage import collect_suite_tests, per_test_coverage
from stackproof.mutants.killmatrix import (
    Layout,
    MutantOutcome,
    digest_of,
    judge,
    mutant_command,
    read_records,
    write_record,
)
from stackproof.mutants.unkillable import load_unkillable
from stackproof.results.verdicts import requirement_verdict

A, B, C = "tls/t.py::test_a", "tls/t.py::test_b", "tls/t.py::test_c"


def mutant(folder: Path, toml: str) -> Any:
    (folder / "m").mkdir(parents=True, exist_ok=True)
    (folder / "m" / "mutant.toml").write_text(textwrap.dedent(toml), "utf-8")
    return load_mutant(folder / "m")


def results(*tests: tuple[str, str, str]) -> dict[str, Any]:
    """(nodeid, requirement, outcome) → a results.json's requirements."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for nodeid, requirement, outcome in tests:
        by_id.setdefault(requirement, []).append(
            {"nodeid": nodeid, "outcome": outcome, "message": f"{outcome} said so"}
        )
    return {
        "requirements": [
            {"id": i, "verdict": requirement_verdict(t["outcome"] for t in ts), "tests": ts}
            for i, ts in by_id.items()
        ]
    }


def test_only_a_fail_kills_an_error_never(tmp_path: Path) -> None:
    m = mutant(tmp_path, 'description = "breaks TLS"\nexpects = ["R-TLS-1"]\n')
    _, failed, errored, why = judge(m, results((A, "R-TLS-1", "error"), (B, "R-TLS-1", "pass")))
    assert why == "R-TLS-1: no test failed (verdict error)"
    assert (failed, list(errored)) == (set(), [A])
    _, failed, _, why = judge(m, results((A, "R-TLS-1", "error"), (B, "R-TLS-1", "fail")))
    assert why is None
    assert failed == {B}


def test_each_expected_requirement_must_fail(tmp_path: Path) -> None:
    m = mutant(tmp_path, 'description = "breaks two"\nexpects = ["R-TLS-1", "R-TLS-2"]\n')
    verdicts, _, _, why = judge(m, results((A, "R-TLS-1", "fail"), (B, "R-TLS-2", "pass")))
    assert verdicts == {"R-TLS-1": "fail", "R-TLS-2": "pass"}
    assert why == "R-TLS-2: no test failed (verdict pass)"


def test_every_named_test_must_fail(tmp_path: Path) -> None:
    m = mutant(
        tmp_path,
        f'description = "breaks both"\nexpects = ["R-TLS-1"]\ntests = ["suites/{A}", "{B}"]\n',
    )
    assert m.targets == (A, B), "node IDs under suites/, with or without the prefix"
    _, _, _, why = judge(m, results((A, "R-TLS-1", "fail"), (B, "R-TLS-1", "error")))
    assert why == f"{B}: error, expected fail: error said so"
    _, _, _, why = judge(m, results((A, "R-TLS-1", "fail")))
    assert why == f"{B}: not run, expected fail"
    _, failed, _, why = judge(m, results((A, "R-TLS-1", "fail"), (B, "R-TLS-1", "fail")))
    assert why is None
    assert failed == {A, B}


def test_a_mutant_naming_tests_runs_only_those(tmp_path: Path) -> None:
    layout = Layout(SUITES, REFERENCE, tmp_path, tmp_path / "reports")
    named = mutant(tmp_path, f'description = "breaks A"\nexpects = ["R-TLS-1"]\ntests = ["{A}"]\n')
    command = mutant_command(named, layout, tmp_path)
    assert command[-1] == str(SUITES / A)
    assert not any(part.startswith(("--requirement", "--maxfail")) for part in command)
    default = mutant(tmp_path, 'description = "breaks TLS"\nexpects = ["R-TLS-1"]\n')
    command = mutant_command(default, layout, tmp_path)
    assert command[-2:] == ["--requirement=R-TLS-1", "--maxfail=1"]


@pytest.mark.parametrize(
    "tests", ['["tls/t.py"]', '["test_a"]', f'["{A}", "{A}"]'], ids=["no-name", "no-path", "twice"]
)
def test_named_tests_must_be_node_ids(tmp_path: Path, tests: str) -> None:
    with pytest.raises(MutantError, match="tests"):
        mutant(tmp_path, f'description = "breaks A"\nexpects = ["R-TLS-1"]\ntests = {tests}\n')


def outcome(name: str, failed: tuple[str, ...], targets: tuple[str, ...] = ()) -> MutantOutcome:
    return MutantOutcome(
        name, "d", ("R-TLS-1",), targets, {"R-TLS-1": "fail"}, failed, {}, True, 1, 1.0, "r", "x"
    )


def test_every_test_is_killed_or_listed_with_a_reason() -> None:
    layout = Layout(SUITES, REFERENCE, ROOT / "mutants", ROOT / "reports")
    outcomes = [outcome("m1", (A,)), outcome("m2", (A, B), targets=("tls/t.py::test_gone",))]
    coverage = per_test_coverage(
        layout,
        outcomes,
        {C: "no stack can fail it", B: "wrongly listed"},
        tests=[A, B, C, "x.py::d"],
    )
    assert coverage.killed_by == {A: ["m1", "m2"], B: ["m2"], C: [], "x.py::d": []}
    assert coverage.not_killed == ("x.py::d",)
    assert coverage.problems() == [
        "x.py::d: no mutant fails it (nor is it in unkillable.toml)",
        f"unkillable.toml: {B} is failed by m2: remove it",
        "mutant m2: tests = ['tls/t.py::test_gone']: not tests of the suites",
    ]


def test_a_record_whose_inputs_changed_is_stale(tmp_path: Path) -> None:
    folder = tmp_path / "mutants"
    m = mutant(folder, 'description = "breaks TLS"\nexpects = ["R-TLS-1"]\n')
    project = tmp_path / "project"
    for part in ("stack", "suites"):
        (project / part).mkdir(parents=True)
    (project / "stack" / "f.conf").write_text("one")
    (project / "profile.toml").write_text("name = 'p'")
    layout = Layout(project / "suites", project / "profile.toml", folder, tmp_path / "reports")
    record = dataclasses.replace(outcome(m.name, (A,)), digest=digest_of(m, layout))
    write_record(record, layout.reports / m.name / "record.json")
    assert read_records(layout, [m]) == {m.name: record}
    (project / "stack" / "f.conf").write_text("two")
    assert read_records(layout, [m]) == {m.name: None}


def test_the_project_mutants_name_tests_of_the_suites_and_the_unkillable_list_is_small() -> None:
    tests = set(collect_suite_tests(Layout.of_project(ROOT)))
    for m in discover(ROOT / "mutants"):
        assert set(m.targets) <= tests, m.name
    unkillable = load_unkillable(ROOT / "mutants")
    assert set(unkillable) <= tests
    assert len(unkillable) <= len(tests) // 10, "keep it short: add mutants instead"


def test_a_mutant_of_another_stack_runs_against_its_profile(tmp_path: Path) -> None:
    layout = Layout(SUITES, REFERENCE, ROOT / "mutants", tmp_path)
    (guestbook,) = [m for m in discover(ROOT / "mutants") if m.spec.profile is not None]
    command = mutant_command(guestbook, layout, tmp_path)
    example = ROOT / "profiles" / "examples" / "guestbook" / "profile.toml"
    assert f"--profile={example}" in command
    assert f"--profile={REFERENCE}" not in command
    projects = tmp_path / "project"
    (projects / "mutants").mkdir(parents=True)
    with pytest.raises(MutantError, match=r"profile: .*nowhere.toml does not exist"):
        load_mutant_in(projects, 'profile = "nowhere.toml"')


def load_mutant_in(project: Path, extra: str) -> Any:
    folder = project / "mutants" / "m"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mutant.toml").write_text(
        f'description = "broken somehow"\nexpects = ["R-TLS-1"]\n{extra}\n', "utf-8"
    )
    return load_mutant(folder)


def test_a_mutant_of_another_stack_is_refused_against_the_reference(tmp_path: Path) -> None:
    done = subprocess.run(
        suites_command(
            str(SUITES / "tls"), f"--profile={REFERENCE}", f"--reports-dir={tmp_path}",
            "--mutant=guestbook-readiness-ignores-mariadb",
        ),
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode != 0
    assert "breaks the stack of" in done.stdout + done.stderr
    assert "examples/guestbook/profile.toml" in done.stdout + done.stderr
