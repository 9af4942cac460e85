"""Compose figures: the reference stack up on compose (images built) beside the process
backend, in the same run; and the conformance run's wall time on both.

Objectives (issue 10): all-ready on compose <= 5 s median (anchor: 0.3-1.5 s per container
start on this machine), and the full conformance run on compose within 1.5x the process
backend's. Reported with the machine's load, never asserted. `STACKPROOF_BENCH_COMPOSE_UPS`
sets the number of bring-ups (default 5 each, alternating), `STACKPROOF_BENCH_COMPOSE_SUITES`
the suites of the wall-time comparison (default: all; e.g. "tls headers" on a busy host).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from stackproof.backends.base import Backend
from stackproof.backends.compose import ComposeBackend
from stackproof.backends.process import ProcessBackend
from stackproof.profile import load_profile
from stackproof.run import RunContext, new_run_id

OBJECTIVES = {"compose_ready_median_s": 5.0, "conformance_wall_ratio": 1.5}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def bring_ups(root: Path, count: int) -> dict[str, list[dict[str, Any]]]:
    """`count` bring-ups on each backend, alternating, so both see the same load."""
    profile = load_profile(root / "profiles" / "reference.toml")
    backends: dict[str, Backend] = {"process": ProcessBackend(), "compose": ComposeBackend()}
    for backend in backends.values():
        backend.check(profile)
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in backends}
    with tempfile.TemporaryDirectory(prefix="stackproof-bench-") as reports:
        run = RunContext(new_run_id(), Path(reports) / "run")  # one run: images built once
        warm = ComposeBackend()
        with warm.up(profile, run, "warm-up"):  # the images, built or found, before timing
            pass
        for index in range(count):
            for name, backend in backends.items():
                started = time.monotonic()
                with backend.up(profile, run, f"{name}-{index}") as stack:
                    ready = stack.ready_after_s or (time.monotonic() - started)
                    phases = dict(getattr(stack, "phase_seconds", {}))
                    containers = len(getattr(stack, "all_containers", list)())
                samples[name].append(
                    {
                        "ready_s": round(ready, 3),
                        "with_teardown_s": round(time.monotonic() - started, 3),
                        "phases_s": phases,
                        "containers": containers,
                        "load": _load(),
                    }
                )
    return samples


def conformance_wall(root: Path, backend: str, suites: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="stackproof-bench-") as reports:
        load_before = _load()
        started = time.monotonic()
        targets = [str(root / "suites" / s) for s in suites] or [str(root / "suites")]
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-c", str(root / "suites" / "pytest.ini"),
             *targets,
             f"--profile={root / 'profiles' / 'reference.toml'}", f"--backend={backend}",
             f"--reports-dir={reports}", "-q", "-p", "no:cacheprovider"],
            check=False, capture_output=True, text=True,
        )  # fmt: skip
        return {
            "wall_s": round(time.monotonic() - started, 2),
            "exit_status": done.returncode,
            "summary": (done.stdout.strip().splitlines() or [""])[-1],
            "load_before": load_before,
            "load_after": _load(),
        }


def run(root: Path, out: Path) -> dict[str, Any]:
    count = int(os.environ.get("STACKPROOF_BENCH_COMPOSE_UPS", "5"))
    suites = os.environ.get("STACKPROOF_BENCH_COMPOSE_SUITES", "").split()
    ups = bring_ups(root, count)
    walls = {name: conformance_wall(root, name, suites) for name in ("process", "compose")}
    ready = {name: [s["ready_s"] for s in samples] for name, samples in ups.items()}
    per_container = [
        s["phases_s"].get("up", s["ready_s"]) / max(1, s["containers"]) for s in ups["compose"]
    ]
    figures = {
        "compose_ready_median_s": round(statistics.median(ready["compose"]), 3),
        "process_ready_median_s": round(statistics.median(ready["process"]), 3),
        "compose_ready_min_s": min(ready["compose"]),
        "compose_ready_max_s": max(ready["compose"]),
        "compose_seconds_per_container_median": round(statistics.median(per_container), 3),
        "conformance_wall_process_s": walls["process"]["wall_s"],
        "conformance_wall_compose_s": walls["compose"]["wall_s"],
        "conformance_wall_ratio": round(
            walls["compose"]["wall_s"] / max(0.001, walls["process"]["wall_s"]), 2
        ),
    }
    document = {
        "bench": "compose",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "objectives": OBJECTIVES,
        "figures": figures,
        "meets": {name: figures[name] <= limit for name, limit in OBJECTIVES.items()},
        "bring_ups": ups,
        "conformance": {"suites": suites or ["all"], **walls},
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "compose.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    loads = [s["load"][0] for samples in ups.values() for s in samples]
    lines = [
        "# Compose figures",
        "",
        f"Machine: {os.cpu_count()} CPUs; 1-minute load average during the bring-ups "
        f"{min(loads)}-{max(loads)}.",
        "",
        "| figure | value | objective |",
        "| --- | --- | --- |",
        f"| reference stack on compose to all-ready, median of {count} "
        f"| {figures['compose_ready_median_s']} s | <= 5 s |",
        f"| the same on the process backend, same run | {figures['process_ready_median_s']} s | |",
        f"| compose min / max | {figures['compose_ready_min_s']} / "
        f"{figures['compose_ready_max_s']} s | |",
        f"| compose up per container (median) | "
        f"{figures['compose_seconds_per_container_median']} s | anchor 0.3-1.5 s |",
        f"| conformance ({', '.join(suites) or 'all suites'}) wall: process / compose "
        f"| {figures['conformance_wall_process_s']} / {figures['conformance_wall_compose_s']} s "
        f"(x{figures['conformance_wall_ratio']}) | <= x1.5 |",
        "",
        "Phases of each compose bring-up (seconds from its start): "
        + "; ".join(json.dumps(s["phases_s"]) for s in ups["compose"]),
    ]
    (out / "compose.md").write_text("\n".join(lines) + "\n", "utf-8")
    return document
