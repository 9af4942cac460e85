"""Taking a service's dependency file away, and always putting it back."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import PurePosixPath

from stackproof.backends.base import FileAccess
from stackproof.errors import PreconditionError
from stackproof.profile.model import FileDependency


@contextmanager
def taken_away(
    files: FileAccess, path: PurePosixPath, dependency: FileDependency
) -> Iterator[None]:
    """For the block, `path` is gone (or unreadable); afterwards it is back as it was, also
    after a failure or an interrupt. A file that cannot be taken away or read first keeps
    the check from judging (PreconditionError), never a finding."""
    found = files.stat(path)
    if found is None or found.kind != "file":
        raise PreconditionError(f"{path} ({dependency.name}) is not a file before the check")
    try:
        original = files.read_bytes(path)
    except OSError as error:
        raise PreconditionError(f"{path} ({dependency.name}) cannot be read: {error}") from error
    try:
        try:
            if dependency.take_away == "remove":
                files.remove(path)
                if files.stat(path) is not None:
                    raise PreconditionError(f"{path} is still there after removing it")
            else:
                files.chmod(path, 0)
                if _readable(files, path):
                    raise PreconditionError(
                        f"{path} stays readable with mode 000 (the harness runs as root?): "
                        'it cannot be made unreadable; use take_away = "remove"'
                    )
        except OSError as error:
            raise PreconditionError(f"{path} cannot be taken away: {error}") from error
        yield
    finally:
        if dependency.take_away == "remove" or files.stat(path) is None:
            files.write_bytes(path, original, found.mode)
        else:
            files.chmod(path, found.mode)


def _readable(files: FileAccess, path: PurePosixPath) -> bool:
    try:
        files.read_bytes(path, limit=1)
    except OSError:
        return False
    return True
