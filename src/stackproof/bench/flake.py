"""Repeatability: the conformance suite N times in a row and M pairs of runs side by side.

Done (issue: verdicts, part 7): 10 consecutive runs and 5 pairs of concurrent runs on one
machine all exit 0 with identical verdicts. Any verdict that differs between runs is a
defect; this bench finds them and names the tests whose outcomes differed, with what they
said. Every run is the default `nox -s conformance` run (serial: this version has no
parallel runs) against the reference stack on the process backend. The figures are
rewritten after every run, so an interrupted bench keeps what it measured.

`STACKPROOF_BENCH_FLAKE_RUNS` (10) and `STACKPROOF_BENCH_FLAKE_PAIRS` (5) change the shape.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from stackproof.bench.suiteruns import SuiteRun, load_average, run_once, start

RUNS_ENV, PAIRS_ENV = "STACKPROOF_BENCH_FLAKE_RUNS", "STACKPROOF_BENCH_FLAKE_PAIRS"


def _count(name: str, default: int) -> int:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() else default


def differences(runs: list[SuiteRun]) -> dict[str, Any]:
    """Requirements whose verdict differed, and tests whose outcome differed, across runs."""
    verdicts: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    outcomes: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for requirement in {*run.verdicts, *(r for other in runs for r in other.verdicts)}:
            verdicts[requirement][run.verdicts.get(requirement, "not_covered")].append(run.label)
        for test in {*run.outcomes, *(t for other in runs for t in other.outcomes)}:
            outcomes[test][run.outcomes.get(test, "not run")].append(run.label)
    said = {
        test: {run.label: run.messages[test] for run in runs if test in run.messages}
        for test, seen in outcomes.items()
        if len(seen) > 1
    }
    return {
        "verdicts": {r: dict(seen) for r, seen in sorted(verdicts.items()) if len(seen) > 1},
        "tests": {t: dict(seen) for t, seen in sorted(outcomes.items()) if len(seen) > 1},
        "messages": said,
    }


def _where(seen: dict[str, list[str]]) -> str:
    return "; ".join(f"{value} in {', '.join(labels)}" for value, labels in seen.items())


def _write(out: Path, document: dict[str, Any]) -> None:
    runs = [SuiteRun(**r) for r in document["runs"]]
    found = differences(runs)
    document["differences"] = found
    document["figures"] = {
        "runs": len(runs),
        "exit_zero": sum(r.exit_status == 0 for r in runs),
        "identical_verdicts": not found["verdicts"],
        "wall_s": [r.wall_s for r in runs],
    }
    document["meets"] = (
        bool(runs) and all(r.exit_status == 0 for r in runs) and not found["verdicts"]
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "flake.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    lines = [
        "# Repeatability: the same run, again and side by side",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, shared with other "
        f"engineers' runs. Each run: the reference stack, all suites, one process."
        f" Planned: {document['planned']['runs']} in a row, {document['planned']['pairs']} "
        f"pairs side by side; done: {len(runs)} runs.",
        "",
        "| run | exit | wall | verdicts (pass/skip/other) | load 1 min before → after |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        tally: dict[str, int] = defaultdict(int)
        for verdict in run.verdicts.values():
            tally[verdict if verdict in ("pass", "skip") else "other"] += 1
        lines.append(
            f"| {run.label} | {run.exit_status} | {run.wall_s} s | {tally['pass']}/"
            f"{tally['skip']}/{tally['other']} | {run.load_before[0]} → {run.load_after[0]} |"
        )
    lines += ["", "## Verdicts that differed", ""]
    lines += [
        f"- {requirement}: "
        + "; ".join(f"{v} in {', '.join(labels)}" for v, labels in seen.items())
        for requirement, seen in found["verdicts"].items()
    ] or ["None: every run gave every requirement the same verdict."]
    lines += ["", "## Tests whose outcome differed", ""]
    for test, seen in found["tests"].items():
        lines.append(f"- `{test}`: {_where(seen)}")
        for label, message in found["messages"].get(test, {}).items():
            lines.append(f"  - {label}: {message.splitlines()[0] if message else ''}")
    if not found["tests"]:
        lines.append("None.")
    (out / "flake.md").write_text("\n".join(lines) + "\n", "utf-8")


def run(root: Path, out: Path) -> dict[str, Any]:
    consecutive, pairs = _count(RUNS_ENV, 10), _count(PAIRS_ENV, 5)
    document: dict[str, Any] = {
        "bench": "flake",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "planned": {"runs": consecutive, "pairs": pairs},
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="stackproof-bench-flake-") as folder:
        reports = Path(folder)
        for number in range(1, consecutive + 1):
            done = run_once(root, reports, f"row-{number:02d}")
            document["runs"].append(done.to_json())
            _write(out, document)
            print(f"  row {number}: exit {done.exit_status}, {done.wall_s} s", flush=True)
        for number in range(1, pairs + 1):
            both = [start(root, reports, f"pair-{number:02d}{side}") for side in "ab"]
            for done in (started.finish() for started in both):
                document["runs"].append(done.to_json())
                print(f"  {done.label}: exit {done.exit_status}, {done.wall_s} s", flush=True)
            _write(out, document)
    document["load_average_at_end"] = load_average()
    _write(out, document)
    return document
