"""Image figures: the reference images from nothing, offline, and an unchanged rebuild.

Objectives (issue: containers): images from nothing (the base included) <= 120 s on 2
cores; an unchanged rebuild <= 5 s. Reported, never asserted.

"From nothing": a base image made afresh (`stackproof images base`: mmdebstrap + docker
import, under a tag of the bench's own), so no layer of the engine's cache applies (every
layer stands on the new base's ID); an empty wheel cache and no pip cache, so the wheels
are fetched again; nothing is pulled from any registry. The images are built as one run's
(labelled with the bench's run ID) and removed with everything the bench made, the base
and its build layers included. The unchanged rebuild is timed twice: in process, on the
bench's images, and as a user runs it (`stackproof images build`, a new process, on the
reference images of the default base).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import docker
import docker.errors

from stackproof.cache import CACHE_ENV
from stackproof.containers import engine
from stackproof.containers.base import make_base
from stackproof.containers.images import (
    DEFAULT_BASE_IMAGE,
    BuildSettings,
    BuiltImages,
    ImageSources,
    build_images,
)
from stackproof.run import new_run_id

OBJECTIVES = {"from_nothing_s": 120.0, "unchanged_rebuild_s": 5.0}
CLI_REBUILDS = 3
CLI_TIMEOUT_S = 1800


def _descendants(client: docker.DockerClient, root_id: str) -> list[str]:
    """Every image built on `root_id` (children before parents): the base is the bench's
    own, made a moment ago under a unique tag, so all of them are the bench's."""
    parents = {i["Id"]: i.get("ParentId", "") for i in client.api.images(all=True)}
    found: list[str] = []
    frontier = {root_id}
    while frontier:
        children = {image for image, parent in parents.items() if parent in frontier}
        found = [*children, *found]
        frontier = children
    return found


def _remove_bench_images(client: docker.DockerClient, run_id: str, base_tag: str) -> list[str]:
    _, problems = engine.remove_run(client, run_id)
    try:
        base_id = client.images.get(base_tag).id or ""
    except docker.errors.ImageNotFound:
        return problems
    for image_id in [*_descendants(client, base_id), base_id]:
        try:
            client.images.remove(image_id, force=True, noprune=False)
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as error:
            problems.append(f"image {image_id[:19]}: {error.explanation or error}")
    return problems


def _from_nothing(client: docker.DockerClient, root: Path, log_dir: Path) -> dict[str, Any]:
    run_id = new_run_id()
    base_tag = f"stackproof/base:bench-{run_id.lower()}"
    previous = {name: os.environ.get(name) for name in (CACHE_ENV, "PIP_NO_CACHE_DIR")}
    with tempfile.TemporaryDirectory(prefix="stackproof-bench-images-") as cache:
        os.environ[CACHE_ENV] = cache
        os.environ["PIP_NO_CACHE_DIR"] = "1"
        try:
            load_before = os.getloadavg()[0]
            started = time.monotonic()
            base = make_base(client, tag=base_tag)
            settings = BuildSettings(base_image=base_tag, run_id=run_id, log_dir=log_dir)
            built_at = time.monotonic()
            images = build_images(client, ImageSources.at(root), settings)
            finished = time.monotonic()
            again = build_images(client, ImageSources.at(root), settings)
            rebuild_s = time.monotonic() - finished
        finally:
            for name, value in previous.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            problems = _remove_bench_images(client, run_id, base_tag)
    return {
        "base_s": round(base.seconds, 1),
        "build_s": round(finished - built_at, 1),
        "from_nothing_s": round(finished - started, 1),
        "unchanged_rebuild_in_process_s": round(rebuild_s, 2),
        "rebuilt_anything": any(i.built for i in again),
        "images": _per_image(images),
        "load_average_at_start": round(load_before, 1),
        "cleanup_problems": problems,
    }


def _per_image(images: BuiltImages) -> dict[str, Any]:
    return {i.name: {"seconds": round(i.seconds, 1), "built": i.built} for i in images}


def _cli_rebuilds(root: Path, runs: int) -> list[float]:
    """`stackproof images build` as a user runs it, after one run that makes sure the
    reference images are there: each later run finds them all."""
    argv = [sys.executable, "-m", "stackproof.cli", "images", "build", "--root", str(root)]
    walls = []
    for _ in range(runs + 1):
        started = time.monotonic()
        subprocess.run(argv, check=True, capture_output=True, timeout=CLI_TIMEOUT_S)
        walls.append(round(time.monotonic() - started, 2))
    return walls[1:]


def run(root: Path, out: Path) -> dict[str, Any]:
    with closing(engine.connect()) as client:
        version = client.version().get("Version", "unknown")
        with tempfile.TemporaryDirectory(prefix="stackproof-bench-logs-") as logs:
            cold = _from_nothing(client, root, Path(logs))
        has_base = any(DEFAULT_BASE_IMAGE in i.tags for i in client.images.list("stackproof/base"))
    # Without the default base, `stackproof images build` cannot run: that figure is missing.
    cli = _cli_rebuilds(root, CLI_REBUILDS) if has_base else [float("nan")]
    figures = {
        "from_nothing_s": cold["from_nothing_s"],
        "base_s": cold["base_s"],
        "build_s": cold["build_s"],
        "unchanged_rebuild_s": statistics.median(cli),
        "unchanged_rebuild_in_process_s": cold["unchanged_rebuild_in_process_s"],
    }
    document = {
        "bench": "images",
        "machine": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "docker_engine": version,
            "load_average_at_start": cold["load_average_at_start"],
        },
        "objectives": OBJECTIVES,
        "figures": figures,
        "meets": {name: figures[name] <= limit for name, limit in OBJECTIVES.items()},
        "from_nothing": cold,
        "cli_unchanged_rebuilds_s": cli,
        "default_base": DEFAULT_BASE_IMAGE,
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "images.json").write_text(json.dumps(document, indent=2) + "\n", "utf-8")
    lines = [
        "# Image figures",
        "",
        f"Machine: {os.cpu_count()} CPUs, Docker engine {version}, Python "
        f"{sys.version.split()[0]}; load average {cold['load_average_at_start']} at the start "
        "(the machine is shared: other work runs beside the bench).",
        "",
        "Offline: no image is pulled from any registry (the base is made here, builds never "
        "pull); apt in the builds and mmdebstrap reach the Debian mirror, pip on the host "
        "reaches its index.",
        "",
        "| figure | value | objective |",
        "| --- | --- | --- |",
        f"| images from nothing, base included, offline | {figures['from_nothing_s']} s "
        "| <= 120 s |",
        f"| of which the base (mmdebstrap + docker import) | {figures['base_s']} s | |",
        f"| of which the five images (wheels fetched, builds side by side) "
        f"| {figures['build_s']} s | |",
        f"| unchanged rebuild, `stackproof images build` (median of {CLI_REBUILDS}) "
        f"| {figures['unchanged_rebuild_s']} s | <= 5 s |",
        f"| unchanged rebuild, in process | {figures['unchanged_rebuild_in_process_s']} s | |",
        "",
        "Each image's build from nothing (side by side, so they overlap):",
        "",
    ]
    lines += [f"- {name}: {i['seconds']} s" for name, i in cold["images"].items()]
    (out / "images.md").write_text("\n".join(lines) + "\n", "utf-8")
    return document
