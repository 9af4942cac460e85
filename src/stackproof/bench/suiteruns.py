"""One conformance run of the reference stack as a bench sees it: wall time, verdicts, the
machine's load beside it, for the flake bench."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUN_TIMEOUT_S = 1800.0  # a guard against a hang, not a measure


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages: the machine is shared, so every figure says it."""
    return [round(value, 2) for value in os.getloadavg()]


@dataclass
class SuiteRun:
    label: str
    exit_status: int
    wall_s: float
    load_before: list[float]
    load_after: list[float]
    verdicts: dict[str, str] = field(default_factory=dict)  # covered requirements only
    outcomes: dict[str, str] = field(default_factory=dict)  # per test
    messages: dict[str, str] = field(default_factory=dict)  # of the tests that did not pass
    stack_starts: list[float] = field(default_factory=list)  # seconds to all-ready, each
    output_tail: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def suites_command(root: Path, reports: Path, run_id: str, *args: str) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "-c", str(root / "suites" / "pytest.ini"),
        str(root / "suites"), f"--profile={root / 'profiles' / 'reference.toml'}",
        "--backend=process", f"--reports-dir={reports}", f"--run-id={run_id}", "-q", *args,
    ]  # fmt: skip


def start(root: Path, reports: Path, run_id: str, *args: str) -> Started:
    command = suites_command(root, reports, run_id, *args)
    return Started(run_id, reports / run_id, load_average(), time.monotonic(), command)


@dataclass
class Started:
    """A run in flight (`start`, then `finish`): two can run side by side."""

    label: str
    run_dir: Path
    load_before: list[float]
    at: float
    command: list[str]
    process: subprocess.Popen[str] | None = None

    def __post_init__(self) -> None:
        self.process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )

    def finish(self) -> SuiteRun:
        assert self.process is not None
        try:
            output, _ = self.process.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.terminate()  # the run treats SIGTERM as Ctrl-C: it cleans up
            output = self.process.communicate()[0] + f"\nno end within {RUN_TIMEOUT_S:g} s"
        wall = round(time.monotonic() - self.at, 2)
        run = SuiteRun(
            self.label,
            self.process.returncode,
            wall,
            self.load_before,
            load_average(),
            output_tail=output[-3000:],
        )
        _read_results(run, self.run_dir)
        return run


def _read_results(run: SuiteRun, run_dir: Path) -> None:
    results_path = run_dir / "results.json"
    if not results_path.is_file():
        return
    results = json.loads(results_path.read_text("utf-8"))
    for requirement in results["requirements"]:
        if requirement["verdict"] != "not_covered":
            run.verdicts[requirement["id"]] = requirement["verdict"]
        for test in requirement["tests"]:
            run.outcomes[test["nodeid"]] = test["outcome"]
            if test["outcome"] != "pass":
                run.messages[test["nodeid"]] = (test["message"] or "")[:500]
    run.stack_starts = [s["ready_after_s"] for s in results["run"]["stacks"] if s["ready_after_s"]]


def run_once(root: Path, reports: Path, run_id: str, *args: str) -> SuiteRun:
    return start(root, reports, run_id, *args).finish()
