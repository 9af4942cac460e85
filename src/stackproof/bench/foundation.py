"""Foundation figures: reference stack cold start to all-ready, and the suites' wall time.

Objectives (issue: foundation): cold start median <= 3 s on 2 cores with dependencies
installed; the tls, headers and health suites <= 60 s wall. Reported, never asserted. A cold
start copies a pristine initdb from the cache; the very first start on a machine (empty
cache) is measured and reported on its own.
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

from stackproof.backends.process import ProcessBackend
from stackproof.cache import CACHE_ENV
from stackproof.profile import load_profile
from stackproof.run import RunContext, new_run_id

COLD_STARTS = 7
SUITE_RUNS = 2
OBJECTIVES = {"cold_start_median_s": 3.0, "suites_wall_s": 60.0}


def cold_starts(profile_path: Path, runs: int) -> list[dict[str, Any]]:
    profile = load_profile(profile_path)
    backend = ProcessBackend()
    backend.check(profile)
    samples = []
    with tempfile.TemporaryDirectory(prefix="stackproof-bench-") as reports:
        for _ in range(runs):
            run = RunContext(new_run_id(), Path(reports) / "run")
            started = time.monotonic()
            with backend.up(profile, run, "main") as stack:
                up = time.monotonic() - started
                waves = [{"services": w, "seconds": round(s, 3)} for w, s in stack.wave_seconds]
            samples.append(
                {
                    "ready_s": round(up, 3),
                    "total_with_teardown_s": round(time.monotonic() - started, 3),
                    "waves": waves,
                }
            )
    return samples


def first_start_ever(profile_path: Path) -> dict[str, Any]:
    """A cold start with an empty cache: what the very first run on a machine costs."""
    with tempfile.TemporaryDirectory(prefix="stackproof-bench-cache-") as cache:
        Path(cache).chmod(0o755)  # the unprivileged PostgreSQL user builds its template there
        previous = os.environ.get(CACHE_ENV)
        os.environ[CACHE_ENV] = cache
        try:
            return cold_starts(profile_path, 1)[0]
        finally:
            if previous is None:
                del os.environ[CACHE_ENV]
            else:
                os.environ[CACHE_ENV] = previous


def suites_wall(root: Path, runs: int) -> list[float]:
    walls = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="stackproof-bench-") as reports:
            started = time.monotonic()
            subprocess.run(
                [sys.executable, "-m", "pytest", "-c", str(root / "suites" / "pytest.ini"),
                 str(root / "suites"), f"--profile={root / 'profiles' / 'reference.toml'}",
                 "--backend=process", f"--reports-dir={reports}", "-q",
                 "-k", "tls or headers or health"],
                check=True, capture_output=True,
            )  # fmt: skip
            walls.append(round(time.monotonic() - started, 2))
    return walls


def run(root: Path, out: Path) -> dict[str, Any]:
    first = first_start_ever(root / "profiles" / "reference.toml")
    starts = cold_starts(root / "profiles" / "reference.toml", COLD_STARTS)
    ready = [s["ready_s"] for s in starts]
    walls = suites_wall(root, SUITE_RUNS)
    figures = {
        "cold_start_median_s": round(statistics.median(ready), 3),
        "cold_start_min_s": min(ready),
        "cold_start_max_s": max(ready),
        "suites_wall_s": max(walls),
        "first_start_empty_cache_s": first["ready_s"],
    }
    document = {
        "bench": "foundation",
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "objectives": OBJECTIVES,
        "figures": figures,
        "meets": {name: figures[name] <= limit for name, limit in OBJECTIVES.items()},
        "cold_starts": starts,
        "first_start_empty_cache": first,
        "suites_walls_s": walls,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "foundation.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    lines = [
        "# Foundation figures",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}.",
        "",
        "| figure | value | objective |",
        "| --- | --- | --- |",
        f"| reference stack cold start to all-ready, median of {COLD_STARTS} "
        f"| {figures['cold_start_median_s']} s | <= 3 s |",
        f"| cold start min / max | {figures['cold_start_min_s']} / "
        f"{figures['cold_start_max_s']} s | |",
        f"| tls + headers + health suites, wall (worst of {SUITE_RUNS}) "
        f"| {figures['suites_wall_s']} s | <= 60 s |",
        f"| first start on a machine (empty cache: binaries copied, initdb run) "
        f"| {figures['first_start_empty_cache_s']} s | |",
        "",
        "Start waves of the median cold start:",
        "",
    ]
    median_run = sorted(starts, key=lambda s: s["ready_s"])[len(starts) // 2]
    lines += [f"- {', '.join(w['services'])}: {w['seconds']} s" for w in median_run["waves"]]
    (out / "foundation.md").write_text("\n".join(lines) + "\n", "utf-8")
    return document
