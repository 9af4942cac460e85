"""Fixtures of the container tests: the engine (or a skip saying why), the built images."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing

import pytest
from containers_helpers import ROOT, Engine, RunningStack, connect_or_skip, reference_stack

from stackproof.containers import images


@pytest.fixture(scope="session")
def engine() -> Iterator[Engine]:
    with closing(connect_or_skip()) as client:
        yield Engine(client)


@pytest.fixture(scope="session")
def reference_images(engine: Engine) -> images.BuiltImages:
    engine.require_image(images.DEFAULT_BASE_IMAGE, "make it with `stackproof images base`")
    return images.build_images(engine.client, images.ImageSources.at(ROOT))


@pytest.fixture(scope="module")
def running_stack(
    engine: Engine, reference_images: images.BuiltImages, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    with reference_stack(engine, reference_images, tmp_path_factory.mktemp("stack")) as stack:
        yield stack
