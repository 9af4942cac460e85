"""Set-up figures: from a fresh machine to the first test, and a second run to it.

Objectives (issue: your own stack, part 8): fresh machine to the first test <= 60 s; a
second run to the first test <= 5 s. Reported with the machine's load, never asserted.

Each run is the README's first command, `pipx run --spec 'nox[uv]' nox -s conformance`,
in a clean clone of the project (`git clone` of the checkout's HEAD), selecting one
requirement (`--requirement=R-TLS-1`) so the run ends soon after its first test. "Fresh":
a home folder of the bench's own, so pipx, nox, uv and pip find no cache and no environment
(everything is downloaded again; the registry settings of the machine still apply). The
second run reuses what the first made, as a user's second run does. "The first test": the
moment pytest starts it (its node ID printed, before its fixtures bring the stack up);
the first result is timed too.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stackproof.bench.suiteruns import load_average

OBJECTIVES = {"fresh_to_first_test_s": 60.0, "second_to_first_test_s": 5.0}
RUN_TIMEOUT_S = 1200.0  # a guard against a hang, not a measure
FIRST_COMMAND = ["pipx", "run", "--spec", "nox[uv]", "nox", "-s", "conformance"]
SELECTION = ["--", "-v", "--requirement=R-TLS-1", "--backend=process"]
TEST_MARK = "tls/test_tls.py::"  # the first line of the run that names the test


@dataclasses.dataclass(frozen=True, slots=True)
class Timed:
    exit_status: int
    first_test_s: float | None  # pytest started the first test
    first_result_s: float | None  # and reported its outcome
    wall_s: float
    load_before: list[float]
    load_after: list[float]
    tail: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def time_first_test(clone: Path, home: Path) -> Timed:
    """One run of the first command, timed to its first test from a monotonic clock."""
    environment = {
        **os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
        "PIPX_HOME": str(home / ".pipx"), "PYTHONUNBUFFERED": "1",
    }  # fmt: skip
    for inherited in ("UV_CACHE_DIR", "PIP_CACHE_DIR", "NOX_DEFAULT_VENV_BACKEND"):
        environment.pop(inherited, None)
    before, started = load_average(), time.monotonic()
    first_test = first_result = None
    said = ""
    process = subprocess.Popen(
        [*FIRST_COMMAND, *SELECTION], cwd=clone, env=environment,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    # Read as it comes, not by lines: pytest -v names a test when it starts and ends the line
    # only with its outcome.
    with process.stdout:
        while chunk := os.read(process.stdout.fileno(), 65536):
            said += chunk.decode("utf-8", errors="replace")
            if first_test is None and TEST_MARK in said:
                first_test = time.monotonic() - started
            tested = said[said.find(TEST_MARK) :] if TEST_MARK in said else ""
            if first_result is None and any(w in tested for w in ("PASSED", "FAILED", "SKIPPED")):
                first_result = time.monotonic() - started
            if time.monotonic() - started > RUN_TIMEOUT_S:
                process.terminate()
    status = process.wait()
    return Timed(
        status,
        None if first_test is None else round(first_test, 2),
        None if first_result is None else round(first_result, 2),
        round(time.monotonic() - started, 2),
        before,
        load_average(),
        said[-2000:],
    )


def _write(out: Path, document: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "setup.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    lines = [
        "# Set-up: a fresh machine, then a second run, to the first test",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, shared with other "
        f"runs. Command: `{' '.join(FIRST_COMMAND)} {' '.join(SELECTION)}` in a clean clone;",
        "the fresh run with a home of its own (no pipx, uv or pip cache, no environment).",
        "",
        "| run | exit | to the first test | to its result | wall | objective | load |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, key in (("fresh", "fresh_to_first_test_s"), ("second", "second_to_first_test_s")):
        run = document["runs"].get(name)
        if run is None:
            continue
        first = run["first_test_s"]
        verdict = "—" if first is None else ("met" if first <= OBJECTIVES[key] else "MISSED")
        lines.append(
            f"| {name} | {run['exit_status']} | {first} s | {run['first_result_s']} s | "
            f"{run['wall_s']} s | <= {OBJECTIVES[key]:g} s: {verdict} | "
            f"{run['load_before'][0]} → {run['load_after'][0]} |"
        )
    lines += ["", "Load: the 1-minute load average before → after the run."]
    (out / "setup.md").write_text("\n".join(lines) + "\n", "utf-8")


def run(root: Path, out: Path) -> dict[str, Any]:
    if shutil.which("pipx") is None:
        raise SystemExit("the setup bench runs the README's command, which needs pipx")
    document: dict[str, Any] = {
        "bench": "setup",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "objectives": OBJECTIVES,
        "runs": {},
    }
    with tempfile.TemporaryDirectory(prefix="stackproof-bench-setup-") as folder:
        clone, home = Path(folder) / "clone", Path(folder) / "home"
        subprocess.run(["git", "clone", "--quiet", str(root), str(clone)], check=True)
        home.mkdir()
        for name in ("fresh", "second"):
            document["runs"][name] = time_first_test(clone, home).to_json()
            _write(out, document)
            print(f"  {name}: {document['runs'][name]['first_test_s']} s to the first test")
    fresh, second = document["runs"]["fresh"], document["runs"]["second"]
    document["figures"] = {
        "fresh_to_first_test_s": fresh["first_test_s"],
        "second_to_first_test_s": second["first_test_s"],
    }
    document["meets"] = all(
        value is not None and value <= OBJECTIVES[key] for key, value in document["figures"].items()
    )
    _write(out, document)
    return document
