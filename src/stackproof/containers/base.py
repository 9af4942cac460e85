"""A base image made here, from nothing but a Debian mirror: no registry is needed.

`mmdebstrap --variant=minbase <suite> <tar> <mirror>` writes a minimal Debian as a tar,
`docker import` makes it an image, labelled as stackproof's (so no cleanup of a run ever
removes it). The mirror is the one this host's apt is configured with.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from docker.utils import parse_repository_tag

from stackproof.containers import labels
from stackproof.errors import StackproofError

DEFAULT_SUITE = "bookworm"
DEFAULT_TAG = "stackproof/base:bookworm"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
MMDEBSTRAP_TIMEOUT_S = 1200.0
LOG_TAIL_LINES = 20
SCRATCH_BYTES = 1024 * 1024 * 1024  # the tree and its tar, with room to spare


class BaseImageError(StackproofError):
    """The base image could not be made."""


@dataclass(frozen=True, slots=True)
class AptSource:
    uri: str
    suites: tuple[str, ...]


def _one_line_sources(text: str) -> list[AptSource]:
    """`deb [options] URI suite [components...]` lines of a sources.list file."""
    found = []
    for line in text.splitlines():
        active = line.split("#", 1)[0]
        parts = re.sub(r"\[[^\]]*\]", " ", active).split()  # [arch=... signed-by=...] out
        if len(parts) >= 3 and parts[0] == "deb":
            found.append(AptSource(parts[1], (parts[2],)))
    return found


def _deb822_sources(text: str) -> list[AptSource]:
    """Paragraphs of a .sources file (deb822): Types, URIs, Suites, Enabled."""
    found = []
    for paragraph in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in paragraph.splitlines():
            if line.startswith("#") or ":" not in line or line[:1].isspace():
                continue
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        suites = tuple(fields.get("suites", "").split())
        found += [AptSource(uri, suites) for uri in fields.get("uris", "").split()]
    return found


def apt_sources(paths: Iterable[Path] = APT_SOURCES) -> list[AptSource]:
    """Every `deb` source apt reads: sources.list, and *.list and *.sources in the folder."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted([*path.glob("*.list"), *path.glob("*.sources")])
        elif path.is_file():
            files.append(path)
    found: list[AptSource] = []
    for file in files:
        text = file.read_text("utf-8", errors="replace")
        found += _deb822_sources(text) if file.suffix == ".sources" else _one_line_sources(text)
    return found


def debian_mirror(suite: str = DEFAULT_SUITE, paths: Iterable[Path] = APT_SOURCES) -> str:
    """The URI of the first configured source of `suite` itself (not -updates, -security)."""
    for source in apt_sources(paths):
        if suite in source.suites:
            return source.uri
    raise BaseImageError(
        f"no Debian mirror for {suite} in {', '.join(map(str, paths))}: "
        "name one with --mirror (e.g. http://deb.debian.org/debian)"
    )


def scratch_dir() -> Path | None:
    """Where to make the tree: a tmpfs if there is room (three times faster on a busy
    disk: dpkg writes thousands of small files), else the temporary directory."""
    shm = Path("/dev/shm")  # noqa: S108 - only a private folder (mkdtemp) is made there
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > SCRATCH_BYTES:
        return shm
    return None


def _mmdebstrap(suite: str, mirror: str, tar: Path, log: Path) -> None:
    binary = shutil.which("mmdebstrap")
    if binary is None:
        raise BaseImageError(
            "mmdebstrap is not installed: apt-get install mmdebstrap, or name a base image "
            "you have with --base-image"
        )
    argv = [binary, "--variant=minbase", "--quiet", suite, str(tar), mirror]
    with log.open("wb") as output:
        try:
            done = subprocess.run(
                argv,
                env={**os.environ, "TMPDIR": str(tar.parent)},  # its tree beside the tar
                stdout=output,
                stderr=subprocess.STDOUT,
                timeout=MMDEBSTRAP_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BaseImageError(
                f"mmdebstrap did not finish within {MMDEBSTRAP_TIMEOUT_S:.0f} s"
            ) from None
    if done.returncode != 0:
        error = BaseImageError(
            f"mmdebstrap could not make {suite} from {mirror} (exit {done.returncode})"
        )
        tail = log.read_text("utf-8", errors="replace").splitlines()[-LOG_TAIL_LINES:]
        error.add_note("its output, the end:\n" + "\n".join(tail))
        raise error


@dataclass(frozen=True, slots=True)
class BaseImage:
    tag: str
    id: str
    seconds: float


def make_base(
    client: docker.DockerClient,
    tag: str = DEFAULT_TAG,
    suite: str = DEFAULT_SUITE,
    mirror: str | None = None,
    workdir: Path | None = None,
) -> BaseImage:
    """mmdebstrap + docker import: the base image `tag`, labelled stackproof's."""
    started = time.monotonic()
    repository, version = parse_repository_tag(tag)
    mirror = mirror or debian_mirror(suite)
    where = workdir or scratch_dir()
    with tempfile.TemporaryDirectory(prefix="stackproof-base-", dir=where) as scratch:
        tar = Path(scratch) / f"{suite}.tar"
        _mmdebstrap(suite, mirror, tar, Path(scratch) / "mmdebstrap.log")
        try:
            client.api.import_image_from_file(
                str(tar),
                repository=repository,
                tag=version or "latest",
                changes=[f'LABEL {labels.IMAGE}="base"'],
            )
        except docker.errors.APIError as error:
            raise BaseImageError(f"docker import of {tar.name} failed: {error}") from None
    image = client.images.get(tag)
    return BaseImage(tag, image.id or "", time.monotonic() - started)
