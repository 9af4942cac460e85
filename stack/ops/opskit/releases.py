"""Releases as versioned folders, with `current` pointing at the running one.

    <releases>/releases/<version>/release.json   {"service": "bot", "version": "2"}
    <releases>/releases/<version>/<entrypoint>   executable; the service runs current/<it>
    <releases>/current  → releases/<version>     the running release
    <releases>/previous → releases/<version>     the rollback target of the last deploy

Links are switched atomically (a new link renamed over the old one). A container setup keeps
the same steps and swaps image tags instead: validate = the image exists and has the
entrypoint, switch = retag, restart = `docker compose up -d <service>`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "release.json"
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


class InvalidRelease(Exception):
    """The artifact cannot become a release; the message says why."""


@dataclass(frozen=True, slots=True)
class Release:
    path: Path
    version: str


@dataclass(frozen=True, slots=True)
class ReleaseStore:
    root: Path
    service: str
    entrypoint: str

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    def link(self, name: str) -> Path:
        return self.root / name

    def pointed(self, name: str) -> Release | None:
        """The release `current` or `previous` points at, if any."""
        link = self.link(name)
        if not link.is_symlink():
            return None
        target = link.resolve()
        return Release(target, target.name) if target.is_dir() else None

    def point(self, name: str, release: Release) -> None:
        """Switch a link atomically: make the new link beside it, rename it over the old."""
        staging = self.root / f".{name}.new-{os.getpid()}"
        staging.unlink(missing_ok=True)
        staging.symlink_to(Path("releases") / release.version)
        staging.replace(self.link(name))

    # --- validation ---

    def check(self, folder: Path) -> Release:
        """A release folder that can run: manifest for this service, executable entrypoint."""
        manifest = folder / MANIFEST
        try:
            facts = json.loads(manifest.read_text("utf-8"))
        except FileNotFoundError:
            raise InvalidRelease(f"no {MANIFEST}") from None
        except ValueError as error:
            raise InvalidRelease(f"{MANIFEST} is not JSON ({error})") from None
        if not isinstance(facts, dict):
            raise InvalidRelease(f"{MANIFEST} is not a JSON object")
        if facts.get("service") != self.service:
            raise InvalidRelease(
                f"{MANIFEST}: a release of {facts.get('service')!r}, not of {self.service!r}"
            )
        version = facts.get("version")
        if not isinstance(version, str) or not VERSION.match(version):
            raise InvalidRelease(f"{MANIFEST}: version {version!r} is not a valid version")
        entry = folder / self.entrypoint
        if not entry.resolve().is_relative_to(folder.resolve()):
            raise InvalidRelease(f"the entrypoint {self.entrypoint} points outside the release")
        if not entry.is_file():
            raise InvalidRelease(f"the entrypoint {self.entrypoint} is missing")
        if not entry.stat().st_mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
            raise InvalidRelease(f"the entrypoint {self.entrypoint} is not executable")
        return Release(folder, version)

    def stage(self, artifact: Path) -> Release:
        """Copy or unpack the artifact beside the releases and check it; touches nothing live."""
        if not artifact.exists():
            raise InvalidRelease(f"{artifact}: no such artifact")
        if not artifact.is_dir() and not artifact.name.endswith(ARCHIVE_SUFFIXES):
            raise InvalidRelease(f"{artifact}: neither a folder nor a .tar.gz archive")
        self.releases.mkdir(parents=True, exist_ok=True)
        staging = self.releases / f".staging-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        try:
            if artifact.is_dir():
                shutil.copytree(artifact, staging, symlinks=True)
            else:
                _unpack(artifact, staging)
            return Release(staging, self.check(_single_root(staging)).version)
        except InvalidRelease as error:
            shutil.rmtree(staging, ignore_errors=True)
            raise InvalidRelease(f"{artifact}: {error}") from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def discard(self, staged: Release) -> None:
        shutil.rmtree(staged.path, ignore_errors=True)

    def install(self, staged: Release) -> Release:
        """Move a staged release to releases/<version> (reuse it if that version is there)."""
        final = self.releases / staged.version
        if final.exists():
            shutil.rmtree(staged.path, ignore_errors=True)
            return self.check(final)
        _single_root(staged.path).rename(final)
        shutil.rmtree(staged.path, ignore_errors=True)
        return Release(final, staged.version)


def _unpack(archive: Path, into: Path) -> None:
    try:
        with tarfile.open(archive) as tar:
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, filter="data")  # refuses links out, devices, absolute paths
            else:  # a Python without extraction filters (Debian 12's 3.11.2): the same, by hand
                _refuse_unsafe(tar.getmembers(), into)
                tar.extractall(into)  # noqa: S202 - every member checked above
    except (tarfile.TarError, OSError, EOFError) as error:
        raise InvalidRelease(f"not a readable archive ({error})") from None


def _refuse_unsafe(members: list[tarfile.TarInfo], into: Path) -> None:
    """What the `data` filter refuses: absolute or escaping names, links out, devices."""
    root = into.resolve()
    for member in members:
        target = (root / member.name).resolve()
        if member.name.startswith("/") or not target.is_relative_to(root):
            raise InvalidRelease(f"the archive's {member.name!r} lies outside the release")
        if member.issym() or member.islnk():
            base = target.parent if member.issym() else root
            if not (base / member.linkname).resolve().is_relative_to(root):
                raise InvalidRelease(f"the archive's link {member.name!r} points outside")
        elif not (member.isfile() or member.isdir()):
            raise InvalidRelease(f"the archive's {member.name!r} is not a file or a folder")


def _single_root(staging: Path) -> Path:
    """An archive may hold the release at its top or inside one folder."""
    if (staging / MANIFEST).exists():
        return staging
    entries = list(staging.iterdir())
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return staging
