"""Watching a stack while it serves: a process that exits is noticed the moment it does.

One thread per stack sleeps in poll(2) on a pidfd per watched process (Linux 5.3+) and a
wake-up pipe; an exit makes its pidfd readable and wakes the thread at once, with no
polling interval. The stack judges each exit (`on_exit`): one it asked for (stop, kill,
destroy) is not a failure. `rearm()` after a spawn picks up the new process.
"""

from __future__ import annotations

import contextlib
import os
import select
import threading
from collections.abc import Callable, Mapping

from stackproof.procs import ManagedProcess

Watched = Callable[[], Mapping[str, ManagedProcess]]
OnExit = Callable[[str, ManagedProcess], None]


class ExitWatcher:
    def __init__(self, watched: Watched, on_exit: OnExit, label: str) -> None:
        self._watched = watched
        self._on_exit = on_exit
        self._wake_read, self._wake_write = os.pipe()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"watch-{label}", daemon=True)
        self._armed: dict[int, tuple[str, ManagedProcess, int]] = {}  # pidfd -> name, pid
        self._judged: set[tuple[str, int]] = set()

    def start(self) -> None:
        self._thread.start()

    def rearm(self) -> None:
        """Look at the set of processes again (one was spawned)."""
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b".")

    def close(self) -> None:
        self._closing.set()
        self.rearm()
        if self._thread.is_alive():
            self._thread.join(timeout=10.0)
        if self._thread.is_alive():
            return  # never close descriptors under a thread still polling them
        for descriptor in list(self._armed):
            os.close(descriptor)
        self._armed.clear()
        os.close(self._wake_read)
        os.close(self._wake_write)

    def _run(self) -> None:
        poller = select.poll()
        poller.register(self._wake_read, select.POLLIN)
        while not self._closing.is_set():
            self._arm(poller)
            for descriptor, _ in poller.poll():
                if self._closing.is_set():
                    return
                if descriptor == self._wake_read:
                    os.read(self._wake_read, 4096)
                    continue
                name, process, pid = self._armed.pop(descriptor)
                poller.unregister(descriptor)
                os.close(descriptor)
                self._judge(name, process, pid)

    def _arm(self, poller: select.poll) -> None:
        armed = {(name, pid) for name, _, pid in self._armed.values()}
        for name, process in self._watched().items():
            pid = process.pid
            if pid is None or (name, pid) in armed or (name, pid) in self._judged:
                continue
            try:
                descriptor = os.pidfd_open(pid)
            except ProcessLookupError:  # reaped already: it exited before we looked
                self._judge(name, process, pid)
                continue
            if process.exit_code() is not None:  # exited (not reaped until now: still ours)
                os.close(descriptor)
                self._judge(name, process, pid)
                continue
            self._armed[descriptor] = (name, process, pid)
            poller.register(descriptor, select.POLLIN)

    def _judge(self, name: str, process: ManagedProcess, pid: int) -> None:
        if process.pid != pid:
            return  # started again since: the new one is armed at the next look
        self._judged.add((name, pid))
        self._on_exit(name, process)
