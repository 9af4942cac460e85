"""The process backend's `FileAccess`: a stack of local processes keeps its files here."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path, PurePosixPath

from stackproof.backends.values import FileKind, FileStat


def _kind(mode: int) -> FileKind:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


class LocalFiles:
    """Paths on the stack's side are paths on this machine."""

    def stat(self, path: PurePosixPath) -> FileStat | None:
        try:
            found = Path(path).lstat()
        except FileNotFoundError:
            return None
        return FileStat(_kind(found.st_mode), stat.S_IMODE(found.st_mode), found.st_size,
                        found.st_mtime)  # fmt: skip

    def list(self, folder: PurePosixPath) -> list[str]:
        try:
            return sorted(entry.name for entry in Path(folder).iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return []

    def read_bytes(self, path: PurePosixPath, limit: int | None = None) -> bytes:
        with Path(path).open("rb") as source:
            return source.read(-1 if limit is None else limit)

    def write_bytes(self, path: PurePosixPath, data: bytes, mode: int = 0o600) -> None:
        target = Path(path)
        target.write_bytes(data)
        target.chmod(mode)

    def copy(self, source: PurePosixPath, target: PurePosixPath) -> None:
        shutil.copyfile(Path(source), Path(target))

    def chmod(self, path: PurePosixPath, mode: int) -> None:
        Path(path).chmod(mode)

    def set_mtime(self, path: PurePosixPath, mtime: float) -> None:
        os.utime(Path(path), (mtime, mtime))

    def remove(self, path: PurePosixPath) -> None:
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()

    def readlink(self, path: PurePosixPath) -> str | None:
        try:
            return str(Path(path).readlink())
        except (FileNotFoundError, OSError):
            return None

    def local_path(self, path: PurePosixPath) -> Path:
        return Path(path)

    def upload(self, local: Path, target: PurePosixPath) -> None:
        _copy_tree_or_file(local, Path(target))

    def download(self, source: PurePosixPath, local: Path) -> None:
        _copy_tree_or_file(Path(source), local)

    def temp_folder(self, prefix: str) -> PurePosixPath:
        return PurePosixPath(tempfile.mkdtemp(prefix=prefix))

    def remove_tree(self, path: PurePosixPath) -> None:
        shutil.rmtree(Path(path), ignore_errors=True)


def _copy_tree_or_file(source: Path, target: Path) -> None:
    if target.exists() or target.is_symlink():
        raise FileExistsError(target)
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copy2(source, target, follow_symlinks=False)
