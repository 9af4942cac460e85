"""Processes the run starts, and only those: spawn, signal, stop, and prove they are gone.

Every child runs in its own session (Ctrl-C in the terminal reaches the harness, which stops
services in order, not the services directly), carries STACKPROOF_RUN_ID in its environment
(so a leak check can find it and its descendants), and gets SIGKILL from the kernel if the
harness dies without cleaning up (`setpriv --pdeathsig`). Spawn from the main thread, or
from a `SpawningThread`: the kernel ties the parent-death signal to the thread that forked.

The parent-death signal reaches only the direct child: what *it* started (nginx's workers,
which also clear their environment) would outlive a killed harness. So every process also
starts in the harness's cgroup where it can have one, carries the harness's ID, and has its
process group recorded in the harness's marker (`leftovers/harness.py`), whose keeper
kills all of them the moment the harness dies.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from stackproof import sockdiag
from stackproof.errors import MissingBinaryError, ServiceStartError
from stackproof.leftovers.harness import Harness
from stackproof.readiness import Check, wait_for

RUN_ID_ENV = "STACKPROOF_RUN_ID"
UNPRIVILEGED_UID = 65534  # nobody: PostgreSQL refuses to run as root
LOG_TAIL_LINES = 30


def is_root() -> bool:
    return os.geteuid() == 0


class SpawningThread(threading.Thread):
    """A thread allowed to spawn: it must outlive every process it starts.

    The kernel sends the parent-death signal when the forking *thread* ends, so such a thread
    lives until the processes it spawned are stopped (a stack's service-control server).
    """


def _may_spawn_here() -> bool:
    current = threading.current_thread()
    return current is threading.main_thread() or isinstance(current, SpawningThread)


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    """What to run, where its output goes, and how it wants to be stopped."""

    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    log_path: Path
    run_as_uid: int | None = None
    stop_signal: signal.Signals = signal.SIGTERM

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError(f"{self.name}: empty command")


def _wrapper(run_as_uid: int | None) -> list[str]:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        if run_as_uid is not None:
            raise MissingBinaryError(
                "setpriv (util-linux) is needed to run PostgreSQL unprivileged as root; "
                "install util-linux or run stackproof as a normal user"
            )
        return []
    wrapper = [setpriv]
    if run_as_uid is not None:
        wrapper += [f"--reuid={run_as_uid}", f"--regid={run_as_uid}", "--clear-groups"]
    return [*wrapper, "--pdeathsig", "KILL", "--"]


def tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ManagedProcess:
    """One started process (and its process group) of the run."""

    spec: ProcessSpec
    run_id: str
    # Set when the harness asks it to end (stop, kill): an exit then is no failure of the stack.
    exit_expected: bool = field(default=False, init=False)
    _popen: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def start(self) -> int:
        if not _may_spawn_here():
            raise RuntimeError(
                "spawn from the main thread or a SpawningThread: the parent-death signal needs it"
            )
        self.spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self._popen is not None and self._popen.poll() is not None:
            # Started again after its leader died: what the leader left in its group (nginx's
            # workers, holding its ports) goes first, or the new one cannot bind.
            self.signal(signal.SIGKILL)
            wait_for(
                GroupEmpty(self._popen.pid),
                timeout_s=5.0,
                what=f"{self.spec.name}'s old process group",
                interval_s=0.01,
            )
        harness = Harness.current()
        env = {**self.spec.env, RUN_ID_ENV: self.run_id, **harness.spawn_env()}
        self.exit_expected = False
        with self.spec.log_path.open("ab") as log:
            log.write(f"--- stackproof: starting {self.spec.name} ---\n".encode())
            log.flush()
            try:
                self._popen = subprocess.Popen(
                    [*harness.spawn_prefix(), *_wrapper(self.spec.run_as_uid), *self.spec.argv],
                    cwd=self.spec.cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except FileNotFoundError as error:
                raise MissingBinaryError(
                    f"{self.spec.name}: cannot run {self.spec.argv[0]!r}: {error.strerror}"
                ) from None
        harness.adopt(self._popen.pid)
        return self._popen.pid

    @property
    def pid(self) -> int | None:
        return self._popen.pid if self._popen else None

    @property
    def argv(self) -> tuple[str, ...]:
        return self.spec.argv

    def exit_code(self) -> int | None:
        """None while running (or never started)."""
        return self._popen.poll() if self._popen else None

    def running(self) -> bool:
        return self._popen is not None and self._popen.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return tail(self.spec.log_path, lines)

    def exited_reason(self) -> str | None:
        """For readiness waits: why waiting longer is pointless, if it is."""
        code = self.exit_code()
        return None if code is None else f"{self.spec.name} exited with code {code}"

    def wait(self, timeout_s: float) -> int:
        """Wait for the exit code; raise subprocess.TimeoutExpired at the deadline."""
        if self._popen is None:
            raise RuntimeError(f"{self.spec.name} was never started")
        return self._popen.wait(timeout=timeout_s)

    def expect_exit(self) -> None:
        """The harness is about to end it (or make it end): its exit is not a failure."""
        self.exit_expected = True

    def signal(self, signum: signal.Signals) -> None:
        """Send `signum` to the process group, touching only processes of this run."""
        if self._popen is None:
            return
        group = self._popen.pid
        if self._popen.poll() is None:
            os.killpg(group, signum)  # the leader lives, so the group is still ours
            return
        if not psutil.pid_exists(group):
            # The leader is reaped, yet the kernel keeps a group's ID from reuse while it has
            # members: whoever is in it is what the leader left (nginx's workers).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signum)
            return
        # Another process has the leader's PID now, so the group it led is empty; but pick
        # members by run ID to be sure.
        for pid in run_processes(self.run_id):
            if _pgid(pid) == group:
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    continue

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.signal(signal.SIGCONT)

    def kill(self) -> None:
        self.expect_exit()
        self.signal(signal.SIGKILL)
        self._reap(timeout_s=5.0)

    def stop(self, timeout_s: float = 10.0) -> None:
        """Ask politely, then SIGKILL what is left of the group. Safe to call twice."""
        self.expect_exit()
        with self._lock:
            if self._popen is None:
                return
            if self._popen.poll() is None:
                self.signal(signal.SIGCONT)  # a paused process cannot act on SIGTERM
                self.signal(self.spec.stop_signal)
                self._reap(timeout_s)
            self.signal(signal.SIGKILL)  # stragglers: workers, backends
            self._reap(timeout_s=5.0)

    def _reap(self, timeout_s: float) -> None:
        if self._popen is None:
            return
        try:
            self._popen.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self._popen.wait(timeout=5.0)


@dataclass(frozen=True, slots=True)
class GroupEmpty:
    """No process is left in the process group `group`."""

    group: int

    @property
    def description(self) -> str:
        return f"process group {self.group} is empty"

    def check(self) -> Check:
        try:
            os.killpg(self.group, 0)
        except ProcessLookupError:
            return Check(True, "empty")
        except PermissionError:  # the ID went to a group of someone else's: not ours
            return Check(True, "not ours")
        return Check(False, "members left")


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def listening_ports(pid: int, wanted: Collection[int]) -> set[int] | None:
    """Which of the TCP ports `wanted` `pid` or a descendant listens on; None where the OS
    does not say (another user's process without root, a hardened /proc).

    Not psutil's connections, which parse every socket of the host per call (40 ms on a
    busy one): the listening sockets on `wanted` by inode (`sockdiag`), then the socket
    descriptors of the process, and of its descendants only if it lacks one (a supervisor's
    child holds them)."""
    listening = {inode: port for inode, port in sockdiag.listening().items() if port in wanted}
    try:
        holds = _socket_inodes(pid)
        found = {port for inode, port in listening.items() if inode in holds}
        if found >= set(wanted):
            return found
        for child in psutil.Process(pid).children(recursive=True):
            held = _socket_inodes(child.pid)
            found |= {port for inode, port in listening.items() if inode in held}
    except (psutil.NoSuchProcess, FileNotFoundError, ProcessLookupError):
        return set()
    except (psutil.AccessDenied, PermissionError):
        return None
    return found


def _socket_inodes(pid: int) -> set[int]:
    folder = Path(f"/proc/{pid}/fd")
    inodes = set()
    for entry in folder.iterdir():
        try:
            target = str(entry.readlink())
        except FileNotFoundError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def run_processes(run_id: str) -> list[int]:
    """Every live process whose environment carries this run's ID."""
    found: list[int] = []
    for process in psutil.process_iter(["pid", "status"]):
        if process.info["status"] == psutil.STATUS_ZOMBIE or process.pid == os.getpid():
            continue
        try:
            if process.environ().get(RUN_ID_ENV) == run_id:
                found.append(process.pid)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def run_commands(specs: Sequence[ProcessSpec], run_id: str, timeout_s: float) -> None:
    """Run one-shot commands (migrations) side by side; raise on the first failure."""
    started = [ManagedProcess(spec, run_id) for spec in specs]
    for process in started:
        process.start()
    try:
        for process in started:
            try:
                code = process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                raise ServiceStartError(
                    f"{process.spec.name}: `{' '.join(process.spec.argv)}` did not finish "
                    f"within {timeout_s:g} s"
                ) from None
            if code != 0:
                error = ServiceStartError(
                    f"{process.spec.name}: `{' '.join(process.spec.argv)}` exited {code}"
                )
                error.add_note(f"log tail:\n{process.log_tail()}")
                raise error
    finally:
        for process in started:
            process.stop(timeout_s=2.0)
