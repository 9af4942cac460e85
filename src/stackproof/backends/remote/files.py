"""The remote backend's `FileAccess`: a staging host's files, over its SSH connection.

Reads and stats go through testinfra (`host.file`) and plain commands; writes go through
SFTP on the same connection, so a file is never passed on a command line. Folders travel
both ways over one SFTP session, file by file, modes and symbolic links kept (release
artifacts built here, the running release copied here to build them from).
"""

from __future__ import annotations

import shlex
import stat
from pathlib import Path, PurePosixPath

import paramiko

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

    def upload(self, local: Path, target: PurePosixPath) -> None:
        with self.host.client.open_sftp() as sftp:
            if _exists(sftp, str(target)):
                raise FileExistsError(f"{self.host.target.login}:{target}")
            _put(sftp, local, str(target))

    def download(self, source: PurePosixPath, local: Path) -> None:
        if local.exists() or local.is_symlink():
            raise FileExistsError(local)
        with self.host.client.open_sftp() as sftp:
            _get(sftp, str(source), local)

    def temp_folder(self, prefix: str) -> PurePosixPath:
        done = self.host.run(f"mktemp -d -t {shlex.quote(prefix + 'XXXXXXXX')}")
        if not done.ok or not done.stdout.strip():
            raise OSError(done.describe())
        return PurePosixPath(done.stdout.strip())

    def remove_tree(self, path: PurePosixPath) -> None:
        if str(path) in ("", "/"):
            raise ValueError(f"refusing to remove {path!r}")
        done = self.host.run(f"rm -rf -- {shlex.quote(str(path))}")
        if not done.ok:
            raise OSError(done.describe())


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.lstat(path)
    except FileNotFoundError:
        return False
    return True


def _put(sftp: paramiko.SFTPClient, local: Path, target: str) -> None:
    mode = local.lstat().st_mode
    if stat.S_ISLNK(mode):
        sftp.symlink(str(local.readlink()), target)
    elif stat.S_ISDIR(mode):
        sftp.mkdir(target, 0o700)  # opened up to its own mode once filled
        for entry in sorted(local.iterdir()):
            _put(sftp, entry, f"{target}/{entry.name}")
        sftp.chmod(target, stat.S_IMODE(mode))
    else:
        sftp.put(str(local), target)
        sftp.chmod(target, stat.S_IMODE(mode))


def _get(sftp: paramiko.SFTPClient, source: str, local: Path) -> None:
    mode = sftp.lstat(source).st_mode or 0
    if stat.S_ISLNK(mode):
        local.symlink_to(sftp.readlink(source) or "")
    elif stat.S_ISDIR(mode):
        local.mkdir(mode=0o700)
        for entry in sorted(sftp.listdir(source)):
            _get(sftp, f"{source}/{entry}", local / entry)
        local.chmod(stat.S_IMODE(mode))
    else:
        sftp.get(source, str(local))
        local.chmod(stat.S_IMODE(mode))
