"""A stack that is not the reference stack, described only by its profile, runs the suites."""

from __future__ import annotations

import pytest
from support import NOTES_EXAMPLE, plan_disagreements, run_suites

pytestmark = pytest.mark.stack


def test_the_notes_example_passes_the_suites(tmp_path: pytest.TempPathFactory) -> None:
    run = run_suites(tmp_path, f"--profile={NOTES_EXAMPLE}", "--backend=process")  # type: ignore[arg-type]
    assert run.exit_code == 0, run.output[-4000:]
    covered = run.covered()
    assert {"R-TLS-1", "R-HDR-1", "R-HLT-3", "R-HLT-4", "R-RES-5"} <= set(covered)
    assert set(covered.values()) <= {"pass", "partial", "skip"}
    # Partly tested (the fault schedules send the [command] this profile lacks): said so,
    # with the reason, never a pass.
    partial = {
        r["id"]: r["untested"] for r in run.results["requirements"] if r["verdict"] == "partial"
    }
    assert partial, "R-HLT-1 and R-HLT-3 are tested without the fault schedules"
    assert all(untested and all(u["reason"] for u in untested) for untested in partial.values())
    # Checks of what this profile does not describe skip, saying why: a command, an uptime
    # monitor, a database and ops scripts for the deploy and backup drills, what to redact.
    drills = {f"R-DEP-{n}" for n in (1, 2, 3)} | {f"R-BAK-{n}" for n in range(1, 6)} | {"R-SEC-1"}
    undescribed = {"R-HLT-5", "R-HLT-7", "R-RES-1", "R-RES-2", "R-RES-3", "R-RES-4"}
    undescribed |= {f"R-RED-{n}" for n in range(1, 5)}  # no [redaction] section
    # No [auth] section and no interactions endpoint ([command]): the auth suite skips.
    undescribed |= {"R-AUTH-1", "R-AUTH-2", "R-RL-1", "R-RL-2", "R-SIG-1", "R-SIG-2"}
    undescribed |= {"R-OAUTH-1", "R-OAUTH-2", "R-OAUTH-3"}
    undescribed |= {"R-HDR-7"}  # the notes API sets no cookie: nothing to check
    # Host hardening and database links leaving the host: local processes run on no host.
    undescribed |= {f"R-HOST-{n}" for n in range(1, 7)} | {"R-TLS-8"}
    assert {i for i, v in covered.items() if v == "skip"} <= drills | undescribed
    results = run.results
    assert results["run"]["profile"] == "notes-example"
    figures = {f["name"] for r in results["requirements"] for f in r["figures"]}
    assert "notes_detects_redis_down_s" in figures
    # `stackproof plan` foretold every skip, with the reason the run gave.
    cookies = "headers/test_headers.py::test_every_cookie_set_is_secure_httponly_and_same_site"
    disagreements = plan_disagreements(
        run, f"--profile={NOTES_EXAMPLE}", "--backend=process", runtime=frozenset({cookies})
    )
    assert disagreements == []
