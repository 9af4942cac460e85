"""Bad input stops a run before anything starts, with a message that says what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import REFERENCE, reference_variant, run_suites


def test_an_invalid_profile_stops_the_run_before_anything_starts(tmp_path: Path) -> None:
    profile = reference_variant(tmp_path, {"command = [": "comand = ["})
    run = run_suites(tmp_path / "reports", f"--profile={profile}")
    assert run.exit_code == pytest.ExitCode.USAGE_ERROR
    assert "services.auth.process.comand: unknown key" in run.output
    assert not (tmp_path / "reports").exists(), "nothing may start for an invalid profile"


def test_an_unknown_requirement_id_is_refused(tmp_path: Path) -> None:
    run = run_suites(tmp_path, f"--profile={REFERENCE}", "--requirement=R-TLS-99")
    assert run.exit_code == pytest.ExitCode.USAGE_ERROR
    assert "R-TLS-99" in run.output


def test_a_mutant_that_no_longer_applies_says_so(tmp_path: Path) -> None:
    mutant = tmp_path / "mutants" / "stale"
    mutant.mkdir(parents=True)
    (mutant / "mutant.toml").write_text(
        'description = "edits text the stack no longer has"\nexpects = ["R-TLS-1"]\n'
        '[[edit]]\nfile = "nginx/nginx.conf.template"\nold = "ssl_protocols SSLv2;"\nnew = ""\n',
        "utf-8",
    )
    run = run_suites(
        tmp_path / "reports",
        f"--profile={REFERENCE}",
        "--mutant=stale",
        f"--mutants-dir={tmp_path / 'mutants'}",
    )
    assert run.exit_code == pytest.ExitCode.USAGE_ERROR
    assert "occurs 0 times (must be exactly once)" in run.output
