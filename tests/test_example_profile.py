"""A stack that is not the reference stack, described only by its profile, runs the suites."""

from __future__ import annotations

import pytest
from support import NOTES_EXAMPLE, run_suites

pytestmark = pytest.mark.stack


def test_the_notes_example_passes_the_suites(tmp_path: pytest.TempPathFactory) -> None:
    run = run_suites(tmp_path, f"--profile={NOTES_EXAMPLE}", "--backend=process")  # type: ignore[arg-type]
    assert run.exit_code == 0, run.output[-4000:]
    covered = run.covered()
    assert {"R-TLS-1", "R-HDR-1", "R-HLT-3", "R-HLT-4", "R-RES-5"} <= set(covered)
    # Checks of what this profile does not describe (a command, an uptime monitor) skip.
    assert set(covered.values()) <= {"pass", "skip"}
    assert {i for i, v in covered.items() if v == "skip"} <= {
        "R-HLT-5", "R-HLT-7", "R-RES-1", "R-RES-2", "R-RES-3", "R-RES-4"
    }  # fmt: skip
    results = run.results
    assert results["run"]["profile"] == "notes-example"
    figures = {f["name"] for r in results["requirements"] for f in r["figures"]}
    assert "notes_detects_redis_down_s" in figures
