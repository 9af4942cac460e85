"""Is a run still alive? A lock its processes hold says so, and the kernel lets go of it.

A run holds a shared `flock` on `<runs dir>/<run id>.lock` from before it creates its first
engine object until its last is gone (the harness, and the watcher while it cleans up). The
kernel drops the lock when the holders die, SIGKILL included, so a run is dead exactly when
nobody holds its lock: no PIDs to be reused, no heartbeat to go stale. Every user's runs
share one folder, so `stackproof clean` as any user sees every run of the host.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from pathlib import Path
from types import TracebackType

from stackproof.run import RUN_ID_PATTERN

RUNS_DIR_ENV = "STACKPROOF_RUNS_DIR"


def runs_dir() -> Path:
    """$STACKPROOF_RUNS_DIR, else /run/lock/stackproof (tmpfs: empty after a reboot, when
    every run is over), else a folder in the temporary directory."""
    if configured := os.environ.get(RUNS_DIR_ENV):
        return Path(configured)
    run_lock = Path("/run/lock")
    base = run_lock if run_lock.is_dir() and os.access(run_lock, os.W_OK) else None
    return (base or Path(tempfile.gettempdir())) / "stackproof-runs"


def _ensure(folder: Path) -> Path:
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(PermissionError):  # made by another user meanwhile
            folder.chmod(0o1777)  # sticky, like /tmp: every user's runs, each its own files
    return folder


def lock_path(run_id: str) -> Path:
    if not RUN_ID_PATTERN.match(run_id):  # a label's value becomes a path: no ../
        raise ValueError(f"run id {run_id!r} is not a run ID")
    return runs_dir() / f"{run_id}.lock"


class RunLock:
    """Held while a run (or its watcher) may have engine objects; a context manager."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.path = lock_path(run_id)
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        _ensure(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        fcntl.flock(fd, fcntl.LOCK_SH)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def is_alive(run_id: str) -> bool:
    """Does any process hold the run's lock? A run with no lock file is not alive.

    ValueError for a value that is no run ID: nothing stackproof made, so no verdict.
    """
    try:
        fd = os.open(lock_path(run_id), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def forget(run_id: str) -> None:
    """Remove a dead run's lock file (after its objects are gone)."""
    if not is_alive(run_id):
        # Another user's run: the sticky folder keeps its file theirs (it is harmless).
        with contextlib.suppress(PermissionError):
            lock_path(run_id).unlink(missing_ok=True)
