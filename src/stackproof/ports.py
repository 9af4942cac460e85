"""Ports for every listener of a run — services, fault proxies, the fault server — from one
allocator that every stackproof run on the host shares.

Why not `bind(:0)`: the kernel answers a `:0` bind with a port of its ephemeral range
(`net.ipv4.ip_local_port_range`), the range it also takes every outgoing connection's source
port from, and a port probed and closed is free for the next taker at once: a fault proxy
was handed the port just given to nginx. So ports come from *below* that range. The kernel
never hands those out by itself; only a program that names a port takes one, and stackproof
runs name theirs only under a lock. Below, not above: the default range leaves ~4500 ports
above it and ~12 000 between 20000 and its start, above the well-known servers (PostgreSQL
5432, Redis 6379, Toxiproxy 8474, 8080, ...).

A port is handed out when (1) its lock is taken: a file per port in a host-wide folder, held
with flock(2) by the run's process for as long as the lease lives. The kernel drops the lock
when that process dies, so a killed run's locks never block. (2) A bind to it succeeds now:
a program outside stackproof may listen there. Lock files stay behind on purpose (deleting
one that another run is about to lock would let two runs hold "the" lock); `stackproof
clean` removes the ones nobody holds, and a lock counts only if the file locked is still the
one on disk.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from stackproof.cache import cache_dir
from stackproof.errors import ServiceStartError, StackproofError

LOOPBACK = "127.0.0.1"
LOCK_DIR_ENV = "STACKPROOF_LOCK_DIR"
SHARED_LOCK_ROOT = Path("/run/lock")  # FHS: mode 1777, so every user's runs see one folder
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
FLOOR = 20000  # the window's lowest port: the well-known servers sit below
MIN_WINDOW = 1000  # fewer free ports than this below the ephemeral range: take them above it
LINUX_DEFAULT_RANGE = (32768, 60999)
# How servers say a port was taken (nginx, PostgreSQL, Redis, uvicorn, Go, Python).
ADDRESS_IN_USE = re.compile(r"address already in use|address in use|EADDRINUSE|errno 98", re.I)


class PortsUnavailableError(StackproofError):
    """No port could be locked and bound; the message says what to change."""


class PortInUseError(ServiceStartError):
    """A listener of the stack found its port taken by a program outside stackproof's locks;
    the stack then starts once more on fresh ports (`avoid` these)."""

    def __init__(self, service: str, ports: Iterable[int], holders: str) -> None:
        self.service = service
        self.ports = tuple(sorted(ports))
        self.holders = holders
        listed = ", ".join(f"{LOOPBACK}:{port}" for port in self.ports)
        super().__init__(
            f"service {service!r} could not listen on {listed}: address in use by a program "
            f"outside this run ({holders})"
        )


def says_address_in_use(text: str) -> bool:
    return ADDRESS_IN_USE.search(text) is not None


def ports_named_in_use(text: str, candidates: Iterable[int]) -> set[int]:
    """Which of `candidates` the "address in use" lines of a log name."""
    wanted = set(candidates)
    named: set[int] = set()
    for line in text.splitlines():
        if says_address_in_use(line):
            named |= {int(n) for n in re.findall(r"\b(\d{2,5})\b", line)} & wanted
    return named


def port_holders(ports: Iterable[int]) -> str:
    """Who listens on `ports` now, as far as this process may see ("pid 123 (nginx)")."""
    wanted = set(ports)
    try:
        sockets = psutil.net_connections(kind="tcp")
    except psutil.AccessDenied:
        return "its holder is not visible to this user"
    seen = []
    for entry in sockets:
        if entry.status == psutil.CONN_LISTEN and entry.laddr and entry.laddr.port in wanted:
            name = "?"
            if entry.pid is not None:
                with contextlib.suppress(psutil.Error):
                    name = psutil.Process(entry.pid).name()
            seen.append(f"port {entry.laddr.port} held by pid {entry.pid} ({name})")
    return "; ".join(seen) or "gone again by now"


def ephemeral_range(path: Path = EPHEMERAL_RANGE) -> tuple[int, int]:
    """The kernel's ephemeral port range (Linux's default where it cannot be read)."""
    try:
        low, high = (int(part) for part in path.read_text("ascii").split())
    except (OSError, ValueError):
        return LINUX_DEFAULT_RANGE
    return low, high


def port_window(ephemeral: tuple[int, int] | None = None) -> range:
    """The ports stackproof hands out: below the ephemeral range, else above it."""
    low, high = ephemeral or ephemeral_range()
    if low - FLOOR >= MIN_WINDOW:
        return range(FLOOR, low)
    if 65535 - high >= MIN_WINDOW:
        return range(high + 1, 65536)
    raise PortsUnavailableError(
        f"the kernel's ephemeral port range ({low}-{high}, sysctl "
        "net.ipv4.ip_local_port_range) leaves fewer than "
        f"{MIN_WINDOW} ports outside it for the stack's listeners; narrow it, e.g. "
        "`sysctl net.ipv4.ip_local_port_range='32768 60999'`"
    )


def lock_dir() -> Path:
    """$STACKPROOF_LOCK_DIR, else /run/lock/stackproof (shared by every user's runs), else
    the cache folder where /run/lock cannot be written."""
    if configured := os.environ.get(LOCK_DIR_ENV):
        return Path(configured)
    if os.access(SHARED_LOCK_ROOT, os.W_OK | os.X_OK):
        return SHARED_LOCK_ROOT / "stackproof"
    return cache_dir() / "locks"


def ports_lock_dir() -> Path:
    folder = lock_dir() / "ports"
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        if folder.is_relative_to(SHARED_LOCK_ROOT):  # every user's runs lock files there
            with contextlib.suppress(PermissionError):  # only its maker may chmod it
                folder.parent.chmod(0o1777)
                folder.chmod(0o1777)
    return folder


def lock_path(port: int) -> Path:
    return ports_lock_dir() / f"{port}.lock"


def bindable(port: int, host: str = LOOPBACK) -> bool:
    """Whether a listener could bind host:port now (SO_REUSEADDR, as servers set it: a port
    with only closing connections left is free, one with a listener is not)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _open_lock_file(path: Path) -> int | None:
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
    except PermissionError:  # another user's lock file: reading is enough for flock
        try:
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
    with contextlib.suppress(PermissionError):
        os.fchmod(descriptor, 0o666)  # against the umask: other users' runs lock it too
    return descriptor


def try_lock(path: Path) -> int | None:
    """flock `path` without waiting: the open descriptor, or None when someone holds it.

    A lock counts only if the file is still the one on disk afterwards: `stackproof clean`
    may have removed it between our open and our lock."""
    for _ in range(3):
        descriptor = _open_lock_file(path)
        if descriptor is None:
            return None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(descriptor)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                return None
            raise
        try:
            on_disk = path.stat()
        except FileNotFoundError:
            os.close(descriptor)
            continue
        held = os.fstat(descriptor)
        if (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino):
            return descriptor
        os.close(descriptor)
    return None


@dataclass
class PortLease:
    """One locked port. `release` drops the lock (so does the death of this process)."""

    port: int
    descriptor: int | None

    def release(self) -> None:
        if self.descriptor is not None:
            os.close(self.descriptor)  # closing the descriptor drops the flock
            self.descriptor = None


def _note_owner(descriptor: int, owner: str) -> None:
    """Who holds the port, for a person looking at the lock folder."""
    with contextlib.suppress(OSError):  # read-only: another user's file
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{owner} pid={os.getpid()}\n".encode(), 0)


class PortAllocator:
    """Locked, bindable loopback ports for one stack; `release` frees them all.

    `avoid`: ports never to hand out (say, one a foreign program took from a failed start).
    """

    def __init__(self, owner: str, avoid: Iterable[int] = (), window: range | None = None) -> None:
        self.owner = owner
        self.avoid = set(avoid)
        self._window = window
        self._leases: list[PortLease] = []

    @property
    def window(self) -> range:
        if self._window is None:
            self._window = port_window()
        return self._window

    @property
    def ports(self) -> list[int]:
        return [lease.port for lease in self._leases if lease.descriptor is not None]

    def _candidates(self) -> Iterator[int]:
        """Every port of the window once, from a random start: runs starting side by side
        do not queue for the same first ports."""
        window = self.window
        start = secrets.randbelow(len(window))
        for offset in range(len(window)):
            yield window[(start + offset) % len(window)]

    def allocate(self, count: int) -> list[int]:
        taken: list[int] = []
        mine = set(self.ports)
        for port in self._candidates():
            if len(taken) == count:
                break
            if port in self.avoid or port in mine:
                continue
            descriptor = try_lock(lock_path(port))
            if descriptor is None:
                continue
            if not bindable(port):
                os.close(descriptor)
                continue
            _note_owner(descriptor, self.owner)
            self._leases.append(PortLease(port, descriptor))
            taken.append(port)
        if len(taken) < count:
            window = self.window
            raise PortsUnavailableError(
                f"{self.owner}: only {len(taken)} of {count} ports in {window.start}-"
                f"{window.stop - 1} could be locked and bound; stop other runs or free "
                f"ports there (locks: {ports_lock_dir()})"
            )
        return taken

    def one(self) -> int:
        return self.allocate(1)[0]

    def release(self) -> None:
        for lease in self._leases:
            lease.release()
        self._leases.clear()


def remove_stale_locks(folder: Path | None = None, dry_run: bool = False) -> list[int]:
    """Delete the lock files nobody holds (their runs are gone); return their ports."""
    folder = folder or (lock_dir() / "ports")
    if not folder.is_dir():
        return []
    removed: list[int] = []
    for path in sorted(folder.glob("*.lock")):
        descriptor = try_lock(path)
        if descriptor is None:
            continue  # a live run holds it (or it is not ours to open)
        try:
            if not dry_run:
                path.unlink()  # while locked: an allocator that opened it cannot lock it
            removed.append(int(path.stem))
        except (OSError, ValueError):
            continue
        finally:
            os.close(descriptor)
    return removed


def held(port: int) -> bool:
    """Whether some live process holds the lock of `port` (for leak checks)."""
    path = lock_dir() / "ports" / f"{port}.lock"
    if not path.exists():
        return False
    descriptor = try_lock(path)
    if descriptor is None:
        return True
    os.close(descriptor)
    return False
