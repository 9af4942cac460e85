"""The reference images: built from compose/ on the base, found again when nothing changed,
and a run's own images carry its label and go with it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from containers_helpers import ROOT, Engine

from stackproof.containers import labels
from stackproof.containers.engine import remove_run
from stackproof.containers.images import (
    IMAGE_NAMES,
    BuildSettings,
    BuiltImages,
    ImageBuildError,
    ImageSources,
    build_images,
)
from stackproof.run import new_run_id

pytestmark = pytest.mark.containers


def test_the_images_build_labelled_for_reuse(engine: Engine, reference_images: BuiltImages) -> None:
    assert sorted(reference_images.images) == sorted(IMAGE_NAMES)
    for built in reference_images:
        image = engine.client.images.get(built.ref)
        assert image.labels[labels.IMAGE] == built.name
        assert image.labels[labels.INPUTS] == built.digest
        assert labels.RUN not in image.labels  # no cleanup of a run ever removes it
        assert engine.client.images.get(f"stackproof/{built.name}:latest").id == image.id
    assert set(reference_images.env()) == {
        "PYTHON_IMAGE",
        "REDIS_IMAGE",
        "TOXIPROXY_IMAGE",
        "POSTGRES_IMAGE",
        "NGINX_IMAGE",
    }


def test_an_unchanged_rebuild_finds_every_image(
    engine: Engine, reference_images: BuiltImages
) -> None:
    again = build_images(engine.client, ImageSources.at(ROOT))
    assert {i.name: (i.ref, i.built) for i in again} == {
        i.name: (i.ref, False) for i in reference_images
    }


def test_a_run_builds_only_what_it_changed_and_labels_it(
    engine: Engine, reference_images: BuiltImages, tmp_path: Path
) -> None:
    # Given: a stack tree of one run's own (a mutant's, say) with a change to the services
    stack = tmp_path / "stack"
    shutil.copytree(ROOT / "stack", stack, ignore=shutil.ignore_patterns("__pycache__"))
    (stack / "refstack" / "run_marker.py").write_text('"""This run\'s own change."""\n')
    run_id = new_run_id()
    settings = BuildSettings(run_id=run_id, log_dir=tmp_path / "logs")

    # When: its images are built
    built = build_images(
        engine.client, ImageSources.at(ROOT, stack), settings, names=["python", "redis"]
    )

    # Then: the changed one is the run's, the unchanged one is the shared image
    python, redis = built.images["python"], built.images["redis"]
    assert python.built
    assert python.ref.endswith(run_id)
    assert engine.client.images.get(python.id).labels[labels.RUN] == run_id
    assert redis.ref == reference_images.images["redis"].ref
    assert not redis.built
    shared = reference_images.images["python"]
    assert engine.client.images.get("stackproof/python:latest").id == shared.id

    # And: the run's cleanup removes its image and leaves the shared ones
    found, problems = remove_run(engine.client, run_id)
    assert [(o.kind, o.id) for o in found] == [("image", python.id)]
    assert problems == []
    assert engine.client.images.get(shared.ref).id == shared.id


def test_a_missing_base_image_is_named_with_what_to_do(engine: Engine, tmp_path: Path) -> None:
    settings = BuildSettings(base_image="stackproof/base:no-such-base", log_dir=tmp_path)
    with pytest.raises(ImageBuildError, match=r"base image stackproof/base:no-such-base does"):
        build_images(engine.client, ImageSources.at(ROOT), settings, names=["redis"])
