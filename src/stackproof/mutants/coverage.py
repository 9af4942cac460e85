"""Every check proven per test: each test of the suites is failed by some mutant, or listed
as one none can fail, with the reason.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stackproof.mutants.killmatrix import Layout, MutantOutcome

COLLECT_TIMEOUT_S = 120.0


def collect_suite_tests(layout: Layout) -> list[str]:
    """The suites' tests against the base profile, as `pytest --collect-only -q` lists them."""
    with tempfile.TemporaryDirectory(prefix="stackproof-collect-") as reports:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-c", str(layout.suites / "pytest.ini"),
             str(layout.suites), f"--profile={layout.profile}", f"--reports-dir={reports}",
             "--collect-only", "-q"],
            capture_output=True, text=True, timeout=COLLECT_TIMEOUT_S, check=False,
        )  # fmt: skip
    tests = [line.strip() for line in done.stdout.splitlines() if "::" in line]
    if done.returncode != 0 or not tests:
        raise RuntimeError(
            f"collecting the suites failed ({done.returncode}):\n{done.stdout[-3000:]}"
        )
    return tests


@dataclass(frozen=True, slots=True)
class TestCoverage:
    __test__ = False  # not a test class

    tests: tuple[str, ...]  # every test of the suites
    killed_by: dict[str, list[str]]  # test → the mutants whose run it failed
    unkillable: dict[str, str]  # test → why no mutant can fail it
    not_killed: tuple[str, ...]  # neither killed nor listed: a check not proven to fail
    unknown_targets: dict[str, list[str]]  # mutant → tests it names that the suites lack

    def problems(self) -> list[str]:
        found = [f"{t}: no mutant fails it (nor is it in unkillable.toml)" for t in self.not_killed]
        found += [
            f"unkillable.toml: {t} is not a test of the suites"
            for t in self.unkillable
            if t not in self.tests
        ]
        found += [
            f"unkillable.toml: {t} is failed by {', '.join(self.killed_by[t])}: remove it"
            for t in self.unkillable
            if self.killed_by.get(t)
        ]
        found += [
            f"mutant {name}: tests = {targets}: not tests of the suites"
            for name, targets in self.unknown_targets.items()
        ]
        return found


def per_test_coverage(
    layout: Layout,
    outcomes: Sequence[MutantOutcome],
    unkillable: Mapping[str, str],
    tests: Sequence[str] | None = None,
) -> TestCoverage:
    every = tuple(tests if tests is not None else collect_suite_tests(layout))
    killed_by: dict[str, list[str]] = {test: [] for test in every}
    for outcome in outcomes:
        for test in outcome.failed_tests:
            killed_by.setdefault(test, []).append(outcome.name)
    unknown = {
        o.name: missing for o in outcomes if (missing := [t for t in o.targets if t not in every])
    }
    return TestCoverage(
        tests=every,
        killed_by=killed_by,
        unkillable=dict(unkillable),
        not_killed=tuple(t for t in every if not killed_by[t] and t not in unkillable),
        unknown_targets=unknown,
    )
