"""Killing what a gone harness left running, from what its marker recorded.

Four nets, each catching what the one before may miss:

1. its cgroup (`cgroups.py`), where the kernel put every descendant;
2. the process groups it started, each checked against its leader's start time first (a
   group ID is never reused while the group has members, but a leader's PID may be reused
   once the group is empty): nginx workers stay in their master's group after it died;
3. processes whose environment carries its `STACKPROOF_HARNESS` ID: grandchildren that
   started groups of their own (ops scripts' helpers, pg_dump);
4. pid files it named (nginx clears its workers' environment): the process named, or
   the members of the group it led, if its command line still names the stack's folder.

Standard library only: the keeper imports this and must start fast.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from stackproof.leftovers.cgroups import Cgroup

HARNESS_ENV = "STACKPROOF_HARNESS"
GONE_TIMEOUT_S = 10.0
ROUNDS = 5


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (which may hold spaces and parentheses)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text("ascii", errors="replace")
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def start_ticks(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot): with the PID, names one process."""
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def processes() -> dict[int, int]:
    """PID -> process group of every live process but this one (a zombie is dead already:
    only its parent can reap it)."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            fields = _stat_fields(int(entry.name))
            if fields and len(fields) > 2 and fields[0] != "Z":
                found[int(entry.name)] = int(fields[2])
    return found


def group_members(pgid: int, snapshot: dict[int, int] | None = None) -> list[int]:
    table = processes() if snapshot is None else snapshot
    return [pid for pid, group in table.items() if group == pgid]


def _kill(pid: int) -> bool:
    try:
        os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _killpg(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def kill_group(
    pgid: int, leader_ticks: int | None, snapshot: dict[int, int] | None = None
) -> list[int]:
    """SIGKILL the group `pgid` led by the process that started at `leader_ticks`; nothing
    if another process now has that PID (the group it led is then empty)."""
    table = processes() if snapshot is None else snapshot
    if pgid in table and start_ticks(pgid) != leader_ticks:
        return []
    members = group_members(pgid, table)
    if members:
        _killpg(pgid)
    return members


def pids_with_env(name: str, value: str, snapshot: dict[int, int] | None = None) -> list[int]:
    """Every process (but this one) whose environment has name=value."""
    wanted = f"{name}={value}".encode()
    found = []
    for pid in processes() if snapshot is None else snapshot:
        try:
            environment = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if wanted in environment.split(b"\0"):
            found.append(pid)
    return found


def _cmdline(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace")


def kill_pid_file(path: Path, names: str, snapshot: dict[int, int] | None = None) -> list[int]:
    """The process a pid file names, if its command line holds `names` (the stack's folder),
    with the group it leads; or, the named process gone, the members of the group it led."""
    try:
        pid = int(path.read_text("ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return []
    table = processes() if snapshot is None else snapshot
    if pid in table:
        if names not in _cmdline(pid):
            return []  # the PID is another process's now
        if table[pid] != pid:
            return [pid] if _kill(pid) else []
    members = group_members(pid, table)  # a group ID lives on while members do: its workers
    if members:
        _killpg(pid)
    return members


def wait_gone(pids: Iterable[int], timeout_s: float = GONE_TIMEOUT_S) -> list[int]:
    """Wait (pidfds, no polling) until every PID has exited; return those still alive."""
    handles: dict[int, int] = {}
    for pid in set(pids):
        try:
            handles[os.pidfd_open(pid)] = pid
        except OSError:
            continue  # already gone
    deadline = time.monotonic() + timeout_s
    try:
        waiting = dict(handles)
        poller = select.poll()
        for descriptor in waiting:
            poller.register(descriptor, select.POLLIN)
        while waiting and (left := deadline - time.monotonic()) > 0:
            for descriptor, _ in poller.poll(left * 1000):
                poller.unregister(descriptor)
                waiting.pop(descriptor, None)
        return sorted(waiting.values())
    finally:
        for descriptor in handles:
            os.close(descriptor)


def find(objects: Sequence[Mapping[str, Any]], harness_id: str) -> dict[int, str]:
    """PID -> how it was found, of every live process the records of one harness lead to
    (nothing is killed: for `stackproof clean --dry-run`)."""
    found: dict[int, str] = {}
    for record in objects:
        if record.get("kind") == "cgroup":
            for pid in Cgroup(record["type"], Path(record["path"])).members():
                found.setdefault(pid, f"in cgroup {record['path']}")
    table = processes()
    for record in objects:
        if record.get("kind") == "group":
            pgid = int(record["pgid"])
            if not (pgid in table and start_ticks(pgid) != record.get("ticks")):
                for pid in group_members(pgid, table):
                    found.setdefault(pid, f"in process group {pgid}")
        elif record.get("kind") == "pid_file":
            path = Path(record["path"])
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid = int(path.read_text("ascii").split()[0])
                if pid in table and record["names"] not in _cmdline(pid):
                    continue  # the PID is another process's now
                if pid in table:
                    found.setdefault(pid, f"named by {path}")
                for member in group_members(pid, table) if table.get(pid, pid) == pid else ():
                    found.setdefault(member, f"in the group of the pid in {path}")
    for pid in pids_with_env(HARNESS_ENV, harness_id, table):
        found.setdefault(pid, f"carries {HARNESS_ENV}={harness_id}")
    found.pop(os.getpid(), None)
    return found


def describe(pid: int) -> str:
    return f"{pid} ({_cmdline(pid).strip()[:80] or '?'})"


def reap(objects: Sequence[Mapping[str, Any]], harness_id: str) -> list[int]:
    """Kill everything the records of one harness lead to; return the PIDs killed."""
    killed: set[int] = set()
    for _ in range(ROUNDS):  # a round may free what the next finds (a parent's last fork)
        found: set[int] = set()
        for record in objects:
            if record.get("kind") == "cgroup":
                found.update(Cgroup(record["type"], Path(record["path"])).kill())
        table = processes()
        for record in objects:
            if record.get("kind") == "group":
                found.update(kill_group(int(record["pgid"]), record.get("ticks"), table))
            elif record.get("kind") == "pid_file":
                found.update(kill_pid_file(Path(record["path"]), record["names"], table))
        for pid in pids_with_env(HARNESS_ENV, harness_id, table):
            if _kill(pid):
                found.add(pid)
        if not found:
            break
        killed |= found
        wait_gone(found)
    return sorted(killed)
