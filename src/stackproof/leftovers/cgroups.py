"""A cgroup for the processes of one harness: the kernel then knows them all, whatever they do.

Process groups and the run-ID environment miss a process that starts a session of its own
*and* clears its environment (a daemonising server); a cgroup does not: every descendant of a
process started in it stays in it. The kernel offers, in order of preference:

- cgroup v2 (the unified hierarchy, also mounted beside v1 on hybrid hosts): `cgroup.kill`
  kills every member at once, race-free, since Linux 5.14;
- cgroup v1 `freezer`: freeze the members (no more forks), kill them, thaw;
- cgroup v1 `pids`: kill the members until none is left.

The cgroup is made below the harness's own one in that hierarchy (its accounting and limits
still apply). Making one needs write access there (root, or a delegated v2 subtree);
elsewhere, or with STACKPROOF_NO_CGROUP=1, `create` returns None and process groups plus the
environment have to do.

Standard library only: the keeper (`keeper.py`) imports this and must start fast.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

V2 = "v2"
V1_FREEZER = "freezer"
V1_PIDS = "pids"
PREFERENCE = (V2, V1_FREEZER, V1_PIDS)
KILL_ROUNDS = 50
DISABLE_ENV = "STACKPROOF_NO_CGROUP"


@dataclass(frozen=True, slots=True)
class Hierarchy:
    kind: str
    mount: Path  # where it is mounted
    own: Path  # this process's cgroup in it, as a folder under `mount`


def _own_paths() -> dict[str, str]:
    """kind -> this process's cgroup path, from /proc/self/cgroup."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text("ascii").splitlines():
            number, controllers, path = line.split(":", 2)
            if number == "0" and not controllers:
                paths[V2] = path
            for controller in controllers.split(","):
                if controller in (V1_FREEZER, V1_PIDS):
                    paths[controller] = path
    return paths


def _mounts() -> Iterator[tuple[str, str, Path]]:
    """(kind, root of the mount in its hierarchy, mount point) of every cgroup mount."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            before, _, after = line.partition(" - ")
            fields, tail = before.split(), after.split()
            if len(fields) < 5 or len(tail) < 3:
                continue
            root, point = fields[3], Path(fields[4])
            if tail[0] == "cgroup2":
                yield V2, root, point
            elif tail[0] == "cgroup":
                for option in tail[2].split(","):
                    if option in (V1_FREEZER, V1_PIDS):
                        yield option, root, point


def hierarchies() -> list[Hierarchy]:
    """The usable hierarchies, most capable first."""
    own = _own_paths()
    found: dict[str, Hierarchy] = {}
    for kind, root, point in _mounts():
        path = own.get(kind)
        if path is None or kind in found:
            continue
        if root != "/" and not (path == root or path.startswith(root.rstrip("/") + "/")):
            continue  # our cgroup is not visible through this mount
        relative = os.path.relpath(path, root)
        found[kind] = Hierarchy(kind, point, point if relative == "." else point / relative)
    return [found[kind] for kind in PREFERENCE if kind in found]


@dataclass(frozen=True, slots=True)
class Cgroup:
    kind: str
    path: Path

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def join_prefix(self) -> list[str]:
        """argv to put before a command so it runs inside the cgroup from its first
        instruction (the shell moves itself, then execs: no window to fork outside). A
        failed move still runs the command: the process groups still cover it."""
        return ["/bin/sh", "-c", 'echo 0 > "$0" 2>/dev/null; exec "$@"', str(self.procs)]

    def members(self) -> list[int]:
        try:
            text = self.procs.read_text("ascii")
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def kill(self) -> list[int]:
        """SIGKILL every member; return the PIDs seen (for waiting until they are gone)."""
        seen: list[int] = []
        if self.kind == V2 and (self.path / "cgroup.kill").exists():
            seen = self.members()
            with contextlib.suppress(OSError):
                (self.path / "cgroup.kill").write_text("1")
            return seen
        freezer = self.path / "freezer.state"
        frozen = False
        if self.kind == V1_FREEZER:
            with contextlib.suppress(OSError):
                freezer.write_text("FROZEN")
                frozen = True
        try:
            for _ in range(KILL_ROUNDS):  # a member may fork until it is killed (pids, v2<5.14)
                members = [pid for pid in self.members() if pid != os.getpid()]
                if not members:
                    break
                for pid in members:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                seen.extend(members)
                if frozen:
                    break  # frozen members cannot fork; the kills land when they thaw
        finally:
            if frozen:
                with contextlib.suppress(OSError):
                    freezer.write_text("THAWED")
        return seen

    def remove(self) -> bool:
        """Remove the (empty) cgroup; False while members are still exiting."""
        try:
            self.path.rmdir()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True


def available() -> bool:
    """Whether `create` can make a cgroup here."""
    if os.environ.get(DISABLE_ENV):
        return False
    return any(os.access(h.own, os.W_OK) for h in hierarchies())


def create(name: str) -> Cgroup | None:
    """A new cgroup `name` under this process's own, in the most capable hierarchy where
    this process may make one; None where it may not."""
    if os.environ.get(DISABLE_ENV):
        return None
    for hierarchy in hierarchies():
        path = hierarchy.own / name
        try:
            path.mkdir()
        except FileExistsError:
            return Cgroup(hierarchy.kind, path)
        except OSError:
            continue
        return Cgroup(hierarchy.kind, path)
    return None
