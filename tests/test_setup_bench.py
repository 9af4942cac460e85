"""The setup bench times a run to its first test and says whether the objective was met."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from stackproof.bench import setup


def test_a_run_is_timed_to_its_first_test_and_its_result(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = (
        "import time; print('nox > installing'); time.sleep(0.2)\n"
        "print('tls/test_tls.py::test_only_tls12_and_tls13_are_accepted ', end='', flush=True)\n"
        "time.sleep(0.2); print('PASSED')"
    )
    monkeypatch.setattr(setup, "FIRST_COMMAND", [sys.executable, "-c", script])
    monkeypatch.setattr(setup, "SELECTION", [])
    timed = setup.time_first_test(tmp_path, tmp_path)
    assert timed.exit_status == 0
    assert timed.first_test_s is not None
    assert timed.first_result_s is not None
    assert 0.2 <= timed.first_test_s < timed.first_result_s <= timed.wall_s
    document = {"runs": {"fresh": timed.to_json()}}
    setup._write(tmp_path, document)
    table = (tmp_path / "setup.md").read_text("utf-8")
    assert "| fresh | 0 |" in table
    assert "<= 60 s: met" in table
