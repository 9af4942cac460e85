"""The remote backend's `FileAccess`: a staging host's files, over its SSH connection.

Reads and stats go through testinfra (`host.file`) and plain commands; writes go through
SFTP on the same connection, so a file is never passed on a command line.
"""

from __future__ import annotations

import shlex
import stat
from pathlib import Path, PurePosixPath

from stackproof.backends.remote.ssh import SshHost
from stackproof.backends.values import FileKind, FileStat

_KINDS: dict[str, FileKind] = {
    "regular file": "file",
    "regular empty file": "file",
    "directory": "dir",
    "symbolic link": "link",
}


class SshFiles:
    def __init__(self, host: SshHost) -> None:
        self.host = host

    def stat(self, path: PurePosixPath) -> FileStat | None:
        done = self.host.run(f"stat -c '%F|%a|%s|%.9Y' -- {shlex.quote(str(path))}")
        if not done.ok:
            return None
        kind, mode, size, mtime = done.stdout.strip().split("|")
        return FileStat(_KINDS.get(kind, "other"), int(mode, 8), int(size), float(mtime))

    def list(self, folder: PurePosixPath) -> list[str]:
        file = self.host.testinfra.file(str(folder))
        if not file.is_directory:
            return []
        return sorted(file.listdir())

    def read_bytes(self, path: PurePosixPath, limit: int | None = None) -> bytes:
        with self.host.client.open_sftp() as sftp, sftp.open(str(path), "rb") as source:
            data: bytes = source.read(-1 if limit is None else limit)
            return data

    def write_bytes(self, path: PurePosixPath, data: bytes, mode: int = 0o600) -> None:
        with self.host.client.open_sftp() as sftp:
            with sftp.open(str(path), "wb") as target:
                target.chmod(mode)  # before the data: a secret is never readable by others
                target.write(data)
            sftp.chmod(str(path), mode)

    def copy(self, source: PurePosixPath, target: PurePosixPath) -> None:
        done = self.host.run(
            "cp --preserve=mode -- {} {}".format(*map(shlex.quote, map(str, (source, target))))
        )
        if not done.ok:
            raise OSError(done.describe())

    def chmod(self, path: PurePosixPath, mode: int) -> None:
        with self.host.client.open_sftp() as sftp:
            sftp.chmod(str(path), stat.S_IMODE(mode))

    def set_mtime(self, path: PurePosixPath, mtime: float) -> None:
        with self.host.client.open_sftp() as sftp:
            sftp.utime(str(path), (mtime, mtime))

    def remove(self, path: PurePosixPath) -> None:
        done = self.host.run(f"rm -f -- {shlex.quote(str(path))}")
        if not done.ok:
            raise OSError(done.describe())

    def readlink(self, path: PurePosixPath) -> str | None:
        done = self.host.run(f"readlink -- {shlex.quote(str(path))}")
        return done.stdout.strip() if done.ok else None

    def local_path(self, path: PurePosixPath) -> Path | None:
        return None  # another machine's files are never here
