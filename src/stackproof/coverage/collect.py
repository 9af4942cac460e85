"""Collect the suites (pytest --collect-only, in this process) and plan each test: nothing
starts, but the profile, the backend and the run's options are read as a run reads them."""

from __future__ import annotations

import contextlib
import io
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from stackproof.coverage.items import item_needs, requirements_of
from stackproof.coverage.plan import PlannedTest, plan_test
from stackproof.errors import StackproofError
from stackproof.pytest_plugin.keys import SESSION

SUITES = Path(__file__).resolve().parents[3] / "suites"  # src/stackproof/coverage -> repo


class PlanError(StackproofError):
    """The suites could not be collected for this profile and backend (the message says why)."""


@dataclass
class _Collector:
    tests: list[PlannedTest] = field(default_factory=list)
    backend: str = ""
    reason: str = ""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        run = session.config.stash[SESSION]
        self.backend, self.reason = run.backend.name, run.backend_reason
        for item in session.items:
            self.tests.append(
                plan_test(item.nodeid, requirements_of(item), item_needs(item), run.subject)
            )


@dataclass(frozen=True, slots=True)
class Collected:
    tests: list[PlannedTest]
    backend: str
    backend_reason: str


def collect(
    profile: Path,
    backend: str | None,
    *,
    allow_destructive: bool = False,
    requirements: Sequence[str] = (),
    suites: Path = SUITES,
) -> Collected:
    """The suites' tests as a run of `profile` on `backend` would collect them (only those of
    `requirements`, where given, as `--requirement` selects), each planned."""
    if not (suites / "pytest.ini").is_file():
        raise PlanError(f"the suites are not at {suites} (a checkout of stackproof has them)")
    collector = _Collector()
    output = io.StringIO()
    with tempfile.TemporaryDirectory(prefix="stackproof-plan-") as reports:
        args = [
            "-c", str(suites / "pytest.ini"), str(suites), "--collect-only", "-q",
            "--assert=plain",  # this process imported the plugin already: nothing to rewrite
            f"--profile={profile}", f"--reports-dir={reports}",
            *([f"--backend={backend}"] if backend else []),
            *(["--allow-destructive"] if allow_destructive else []),
            *(f"--requirement={r}" for r in requirements),
        ]  # fmt: skip
        with contextlib.redirect_stdout(output), contextlib.redirect_stderr(output):
            code = pytest.main(args, plugins=[collector])
    if code != pytest.ExitCode.OK or not collector.tests:
        said = [line for line in output.getvalue().splitlines() if line.strip()]
        raise PlanError("the suites could not be collected:\n" + "\n".join(said[-15:]))
    return Collected(collector.tests, collector.backend, collector.reason)
