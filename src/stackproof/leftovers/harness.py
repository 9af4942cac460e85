"""The marker of a harness process: proof that it lives, and the record of what it made that
could outlive it.

A harness is a process that starts services: the conformance run's pytest, `stackproof up`,
the project's own tests. On its first spawn it gets `<cache>/harnesses/<id>/` holding

- `lock`, held with flock(2) for the life of the process: a marker whose lock can be taken
  belongs to a harness that is gone (the kernel drops the lock with its process, however it
  died). This is how `stackproof clean` tells a live run from a dead one, and why it never
  touches what a live run made;
- `owner.json` (PID, start time, command line), for people;
- `objects.jsonl`, one JSON line per thing that could outlive the harness: process groups,
  its cgroup, temporary folders, pid files, iptables tags, port locks;
- a keeper (`keeper.py`): a process of its own session that kills, the moment the harness
  dies, every process those records lead to.

One per process, made on first use: the cgroup and the keeper belong to the process, whatever
run or stack it serves, and everything it spawns is covered without being handed anything.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import fcntl
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, ClassVar

from stackproof.cache import cache_dir
from stackproof.leftovers import cgroups
from stackproof.leftovers.keeper import OBJECTS, read_objects
from stackproof.leftovers.reap import HARNESS_ENV, start_ticks

MARKERS = "harnesses"
LOCK = "lock"
OWNER = "owner.json"
KEEPER_LOG = "keeper.log"
KEEPER_EXIT_TIMEOUT_S = 15.0
# Environment a keeper must not carry: it is no process of any run.
NOT_FOR_KEEPER = ("STACKPROOF_RUN_ID", HARNESS_ENV)


def markers_root() -> Path:
    return cache_dir() / MARKERS


class Harness:
    """This process's marker, cgroup and keeper. Get it with `current()`."""

    _current: ClassVar[Harness | None] = None
    _guard: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, root: Path) -> None:
        self.pid = os.getpid()
        ticks = start_ticks(self.pid)
        assert ticks is not None  # this process's own /proc entry
        self.ticks = ticks
        self.id = f"{self.pid}-{ticks}-{secrets.token_hex(3)}"
        root.mkdir(parents=True, exist_ok=True)
        # Made under a hidden name and renamed once locked: `clean` never sees it unlocked.
        staging = Path(tempfile.mkdtemp(prefix=".new-", dir=root))
        self._lock = os.open(staging / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        owner = {"pid": self.pid, "ticks": ticks, "argv": sys.argv, "started": _now()}
        (staging / OWNER).write_text(json.dumps(owner) + "\n", "utf-8")
        self.path = root / self.id
        staging.rename(self.path)
        self._objects = (self.path / OBJECTS).open("a", encoding="utf-8", buffering=1)
        self._write = threading.Lock()
        self._closed = False
        self.cgroup = cgroups.create(f"stackproof-{self.id}")
        if self.cgroup is not None:
            self.record("cgroup", type=self.cgroup.kind, path=str(self.cgroup.path))
        self._keeper = self._start_keeper()
        self.record("keeper", pid=self._keeper.pid)

    @classmethod
    def current(cls) -> Harness:
        """This process's harness, made on first use (and anew in a forked child)."""
        with cls._guard:
            if cls._current is None or cls._current.pid != os.getpid():
                cls._current = cls(markers_root())
                atexit.register(cls._current.close)
            return cls._current

    def _start_keeper(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k not in NOT_FOR_KEEPER}
        with (self.path / KEEPER_LOG).open("ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "stackproof.leftovers.keeper",
                 str(self.path), str(self.pid), str(self.ticks)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=env,
                start_new_session=True,  # Ctrl-C and a killed process group spare it
            )  # fmt: skip

    # --- what the harness records ---

    def record(self, kind: str, **facts: Any) -> None:
        line = json.dumps({"kind": kind, **facts}, default=str)
        with self._write:
            if not self._closed:
                self._objects.write(line + "\n")

    def spawn_prefix(self) -> list[str]:
        """argv to put first in every command the harness starts (joins its cgroup)."""
        return self.cgroup.join_prefix() if self.cgroup is not None else []

    def spawn_env(self) -> dict[str, str]:
        """Environment every process the harness starts carries (and passes on)."""
        return {HARNESS_ENV: self.id}

    def adopt(self, pid: int) -> None:
        """`pid` leads a new process group (its own session): record it for the keeper."""
        self.record("group", pgid=pid, ticks=start_ticks(pid))

    def objects(self) -> list[dict[str, Any]]:
        return read_objects(self.path)

    # --- the orderly end ---

    def close(self) -> None:
        """Tell the keeper the harness ends in order, wait for it, remove the marker."""
        with self._write:
            if self._closed:
                return
            self._closed = True
            self._objects.close()
        keeper = self._keeper
        if keeper.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                keeper.stdin.write(b"done\n")
                keeper.stdin.flush()
            keeper.stdin.close()
        try:
            keeper.wait(timeout=KEEPER_EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return  # keep the marker: `clean` finishes what the keeper did not
        shutil.rmtree(self.path, ignore_errors=True)
        os.close(self._lock)


def current() -> Harness:
    return Harness.current()


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
