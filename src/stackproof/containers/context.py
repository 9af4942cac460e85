"""An image's build context: the files it is built from, their digest, the tar the engine takes.

The context is assembled from several places (compose/, the stack's sources, the wheel
cache, trees inside wheels) without copying: it is written straight into the tar sent to
the engine. Its digest covers every file's path, content and executable bit, plus any
facts the caller adds (the base image's ID, build arguments); files already named by a key
(a cached wheel set) are covered by that key instead of being read again.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

SKIPPED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})
SPOOL_BYTES = 64 * 1024 * 1024
INSTALL_SCHEME_DIR = re.compile(r"^[^/]+\.data/(?:purelib|platlib)/")


def _executable(path: Path) -> bool:
    return bool(path.stat().st_mode & stat.S_IXUSR)


def _file_digest(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def tree(folder: Path, prefix: str) -> list[tuple[str, Path]]:
    """(path in the context, file) for every file under `folder`, caches left out."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if SKIPPED_PARTS & set(relative.parts) or path.suffix in SKIPPED_SUFFIXES:
            continue
        if path.is_file():
            found.append((f"{prefix}/{relative.as_posix()}", path))
    return found


@dataclass(frozen=True, slots=True)
class ZipMember:
    """A file inside a wheel (a zip), put into the context as it is: no unpacking on disk."""

    archive: Path
    member: zipfile.ZipInfo

    @property
    def mode(self) -> int:
        # A wheel keeps its files' modes in the zip's external attributes (pip, installing,
        # keeps only whether a file is executable, and so do we): readable by every user,
        # since the files are root's in the image and its server runs as another user.
        return 0o755 if (self.member.external_attr >> 16) & 0o111 else 0o644


def wheel_tree(
    archive: Path, mapping: Mapping[str, str], exclude: Iterable[str] = ()
) -> list[tuple[str, ZipMember]]:
    """(path in the context, member) for the members under each prefix of `mapping`,
    renamed to its value; members under an `exclude` prefix left out."""
    skipped = tuple(exclude)
    found = []
    with zipfile.ZipFile(archive) as wheel:
        for member in wheel.infolist():
            # A wheel may keep a package under <name>.data/purelib/: where pip installs it.
            installed = INSTALL_SCHEME_DIR.sub("", member.filename)
            if member.is_dir() or installed.startswith(skipped):
                continue
            for source, target in mapping.items():
                if installed.startswith(source):
                    renamed = target + installed[len(source) :]
                    found.append((renamed, ZipMember(archive, member)))
    if not found:
        raise ValueError(f"{archive.name} holds none of {', '.join(mapping)}")
    return found


@dataclass
class BuildContext:
    """Files by their path in the context; `keyed` ones are covered by a key, not read."""

    files: dict[str, Path] = field(default_factory=dict)
    members: dict[str, ZipMember] = field(default_factory=dict)
    keyed: dict[str, str] = field(default_factory=dict)  # path prefix -> key of its files

    def add(self, entries: Iterable[tuple[str, Path]]) -> None:
        for name, path in entries:
            self.files[name] = path

    def add_keyed(self, prefix: str, key: str, entries: Iterable[tuple[str, Path]]) -> None:
        self.keyed[prefix] = key
        self.add(entries)

    def add_members(self, prefix: str, key: str, entries: Iterable[tuple[str, ZipMember]]) -> None:
        """Files from inside a wheel, covered by `key` (the wheel set's, and what is taken)."""
        self.keyed[prefix] = key
        for name, member in entries:
            self.members[name] = member

    def digest(self, facts: Mapping[str, str] | None = None) -> str:
        summary = hashlib.sha256()
        for name, path in sorted(self.files.items()):
            if any(name.startswith(f"{prefix}/") for prefix in self.keyed):
                continue
            mode = "x" if _executable(path) else "-"
            summary.update(f"{name}\0{mode}\0{_file_digest(path)}\n".encode())
        for key, value in sorted((facts or {}).items()):
            summary.update(f"fact:{key}\0{value}\n".encode())
        for prefix, key in sorted(self.keyed.items()):
            summary.update(f"keyed:{prefix}\0{key}\n".encode())
        return summary.hexdigest()

    def tar(self) -> IO[bytes]:
        """The context as an uncompressed tar, rewound, in memory or a temporary file."""
        spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - returned
        with tarfile.open(fileobj=spool, mode="w") as archive:
            for name, path in sorted(self.files.items()):
                info = tarfile.TarInfo(name)
                info.size = path.stat().st_size
                info.mode = 0o755 if _executable(path) else 0o644
                with path.open("rb") as handle:
                    archive.addfile(info, handle)
            self._add_members(archive)
        spool.seek(0, os.SEEK_SET)
        return spool

    def _add_members(self, archive: tarfile.TarFile) -> None:
        by_wheel: dict[Path, list[tuple[str, ZipMember]]] = {}
        for name, member in sorted(self.members.items()):
            by_wheel.setdefault(member.archive, []).append((name, member))
        for wheel_path, entries in by_wheel.items():
            with zipfile.ZipFile(wheel_path) as wheel:
                for name, member in entries:
                    info = tarfile.TarInfo(name)
                    info.size = member.member.file_size
                    info.mode = member.mode
                    with wheel.open(member.member) as handle:
                        archive.addfile(info, handle)
