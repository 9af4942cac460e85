"""The flake bench names every verdict and test outcome that differed between runs."""

from __future__ import annotations

import json
from pathlib import Path

from stackproof.bench import flake
from stackproof.bench.suiteruns import SuiteRun


def _run(label: str, verdict: str, outcome: str, exit_status: int = 0) -> SuiteRun:
    return SuiteRun(
        label,
        exit_status,
        wall_s=100.0,
        load_before=[1.0, 1.0, 1.0],
        load_after=[2.0, 1.0, 1.0],
        verdicts={"R-TLS-1": "pass", "R-HLT-3": verdict},
        outcomes={"health/test_x.py::test_y": outcome},
        messages={} if outcome == "pass" else {"health/test_x.py::test_y": "detected in 9 s"},
    )


def test_identical_runs_show_no_difference() -> None:
    found = flake.differences([_run("a", "pass", "pass"), _run("b", "pass", "pass")])
    assert found == {"verdicts": {}, "tests": {}, "messages": {}}


def test_a_verdict_that_differs_is_named_with_the_runs_and_what_the_test_said() -> None:
    found = flake.differences([_run("a", "pass", "pass"), _run("b", "fail", "fail")])
    assert found["verdicts"] == {"R-HLT-3": {"pass": ["a"], "fail": ["b"]}}
    assert found["tests"] == {"health/test_x.py::test_y": {"pass": ["a"], "fail": ["b"]}}
    assert found["messages"] == {"health/test_x.py::test_y": {"b": "detected in 9 s"}}


def test_the_figures_meet_the_goal_only_when_every_run_exits_0_alike(tmp_path: Path) -> None:
    document = {"planned": {"runs": 2, "pairs": 0}, "runs": []}
    document["runs"] = [_run("a", "pass", "pass").to_json(), _run("b", "pass", "pass").to_json()]
    flake._write(tmp_path, document)
    assert json.loads((tmp_path / "flake.json").read_text())["meets"] is True
    assert (
        "None: every run gave every requirement the same verdict."
        in (tmp_path / "flake.md").read_text()
    )
    document["runs"][1] = _run("b", "pass", "pass", exit_status=1).to_json()
    flake._write(tmp_path, document)
    assert json.loads((tmp_path / "flake.json").read_text())["meets"] is False
