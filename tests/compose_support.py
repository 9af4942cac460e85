"""Helpers of the compose backend's tests: an engine with the base image, or a skip saying why;
the reference stack up on compose (a mutant's overlay applied, if any)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import docker.errors
import pytest
from support import REFERENCE, ROOT

from stackproof.backends.compose import ComposeBackend, ComposeStack
from stackproof.containers import engine, images
from stackproof.containers.images import DEFAULT_BASE_IMAGE
from stackproof.mutants import load_mutant, materialize
from stackproof.profile import Profile, deep_merge, load_profile
from stackproof.run import RunContext, new_run_id


def engine_or_skip() -> None:
    """Skip, saying why, where no Docker engine (or Compose v2, or the base image) is here."""
    why = ComposeBackend.unavailable()
    if why is not None:
        pytest.skip(f"the compose backend cannot run here: {why}")
    with closing(engine.connect()) as client:
        try:
            client.images.get(DEFAULT_BASE_IMAGE)
        except docker.errors.ImageNotFound:
            pytest.skip(f"no image {DEFAULT_BASE_IMAGE}: make it with `stackproof images base`")


def reference_images() -> None:
    """stackproof's images (for reuse, tagged `latest`), which the quotes example names."""
    with closing(engine.connect()) as client:
        images.build_images(client, images.ImageSources.at(ROOT))


def reference_profile(work: Path, mutants: Sequence[str] = ()) -> Profile:
    """The reference profile, with the mutants' overlays (their files in one stack copy)."""
    overlay: dict[str, Any] = {}
    root = ROOT / "stack"
    for index, name in enumerate(mutants):
        mutant = load_mutant(ROOT / "mutants" / name)
        made = materialize(mutant, root, work / f"m{index}")
        root = Path(made["stack"]["root"])
        overlay = deep_merge(overlay, made)
        overrides = overlay.get("compose", {}).get("stack_overrides", [])
        overlay.setdefault("compose", {})["stack_overrides"] = overrides
    if mutants:
        wanted = []
        for name in mutants:
            wanted += load_mutant(ROOT / "mutants" / name).spec.overlay["compose"][
                "stack_overrides"
            ]
        overlay["compose"]["stack_overrides"] = wanted
        overlay["stack"]["root"] = str(root)
    return load_profile(REFERENCE, overlay) if overlay else load_profile(REFERENCE)


@contextmanager
def compose_stack(profile: Profile, reports: Path, label: str = "main") -> Iterator[ComposeStack]:
    backend = ComposeBackend()
    backend.check(profile)
    run_id = new_run_id()
    run = RunContext(run_id, reports / run_id)
    with backend.up(profile, run, label) as stack:
        yield stack
