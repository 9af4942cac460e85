"""An image's build context: the files it is built from, their digest, and the tar the engine takes.

The context is assembled from several places (compose/, the stack's sources, the wheel
cache) without copying: it is written straight into the tar sent to the engine. Its digest
covers every file's path, content and executable bit, plus any facts the caller adds (the
base image's ID, build arguments); files already named by a key (a cached wheel set) are
covered by that key instead of being read again.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

SKIPPED_PARTS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIPPED_SUFFIXES = frozenset({".pyc", ".pyo"})
SPOOL_BYTES = 64 * 1024 * 1024


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


@dataclass
class BuildContext:
    """Files by their path in the context; `keyed` ones are covered by a key, not read."""

    files: dict[str, Path] = field(default_factory=dict)
    keyed: dict[str, str] = field(default_factory=dict)  # path prefix -> key of its files

    def add(self, entries: Iterable[tuple[str, Path]]) -> None:
        for name, path in entries:
            self.files[name] = path

    def add_keyed(self, prefix: str, key: str, entries: Iterable[tuple[str, Path]]) -> None:
        self.keyed[prefix] = key
        self.add(entries)

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
        spool.seek(0, os.SEEK_SET)
        return spool
