"""A check with nothing to check skips, saying why; it never passes (and never fails).

Stacks that are not the reference stack: no hard dependency, no liveness endpoint, a backend
whose services report no restart identity.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from support import ROOT, RUN_TIMEOUT_S, SuiteRun, reference_variant, run_suites, suites_command

pytestmark = pytest.mark.stack


def outcomes(run: SuiteRun) -> dict[str, tuple[str, str | None]]:
    return {
        t["nodeid"].rsplit("::", 1)[-1]: (t["outcome"], t["message"])
        for r in run.results["requirements"]
        for t in r["tests"]
    }


def test_no_hard_dependency_and_no_liveness_endpoint_skip(tmp_path: Path) -> None:
    profile = reference_variant(
        tmp_path,
        {
            'hard_dependencies = ["postgres"]': "hard_dependencies = []",
            'liveness = "/healthz"\n': "",
        },
    )
    run = run_suites(
        tmp_path / "reports",
        f"--profile={profile}",
        "--backend=process",
        "-k",
        "liveness_ignores_every_dependency or naming_a_failed_hard_dependency",
    )
    seen = outcomes(run)
    liveness, why = seen["test_liveness_ignores_every_dependency"]
    assert liveness == "skip", (liveness, why, run.output[-2000:])
    assert "liveness" in (why or "")
    readiness, why = seen["test_readiness_answers_503_naming_a_failed_hard_dependency"]
    assert readiness == "skip", (readiness, why, run.output[-2000:])
    assert "hard dependenc" in (why or "")


def test_a_backend_without_restart_identities_never_judges_a_restart(tmp_path: Path) -> None:
    """R-HLT-3's "no restart" cannot be told, so it skips; R-DEP-3 judges restarts by the
    stack's lifecycle alone, and passes."""
    reports = tmp_path / "reports"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT / "tests" / "variants"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    done = subprocess.run(
        suites_command(
            f"--reports-dir={reports}",
            "--run-id=run",
            "--backend=process",
            "-p",
            "no_restart_identity",
            "-k",
            "follows_a_hard_dependency_down_and_back or invalid_artifact_never",
        ),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        env=env,
    )
    run = SuiteRun(done.returncode, done.stdout + done.stderr, reports / "run")
    seen = outcomes(run)
    follows, why = seen["test_readiness_follows_a_hard_dependency_down_and_back"]
    assert follows == "skip", (follows, why, run.output[-2000:])
    assert "restart identity" in (why or "")
    invalid, why = seen["test_an_invalid_artifact_never_takes_the_service_down"]
    assert invalid == "pass", (invalid, why)
