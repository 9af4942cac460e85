"""`python -m stackproof.leftovers.keeper MARKER PID TICKS`: kill what a harness leaves running
when it dies.

The harness (`harness.py`) starts one keeper, in a session of its own, and holds the write end
of the keeper's stdin. The harness ends in one of two ways:

- in order: it writes `done` (its stacks are down); the keeper kills anything still
  recorded as running (a leak), removes the harness's cgroup and exits;
- killed (SIGKILL, a crash, an OOM kill): its pipe closes and its pidfd turns readable without
  `done`; the keeper kills everything the marker's records lead to (`reap.py`) at once, so no
  process keeps the run's ports, and exits. Folders, iptables chains and lock files are left
  for `stackproof clean` or the next run (`clean.py`), which can also take them as root
  where the keeper would race the harness's last writes.

Standard library only, so it starts in a few tens of milliseconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import sys
from pathlib import Path
from typing import Any

from stackproof.leftovers.cgroups import Cgroup
from stackproof.leftovers.reap import reap, start_ticks, wait_gone

DONE = b"done"
OBJECTS = "objects.jsonl"


def read_objects(marker: Path) -> list[dict[str, Any]]:
    try:
        lines = (marker / OBJECTS).read_text("utf-8").splitlines()
    except OSError:
        return []
    records = []
    for line in lines:
        with contextlib.suppress(ValueError):  # a line the dying harness did not finish
            records.append(json.loads(line))
    return records


def _await_end(pid: int, ticks: int) -> bool:
    """Block until the harness says `done` (True) or is gone (False)."""
    try:
        harness = os.pidfd_open(pid)
    except OSError:
        return False
    if start_ticks(pid) != ticks:
        os.close(harness)
        return False  # gone before we looked: that PID is someone else's now
    received = b""
    poller = select.poll()
    poller.register(sys.stdin.fileno(), select.POLLIN)
    poller.register(harness, select.POLLIN)
    try:
        while True:
            for descriptor, _ in poller.poll():
                if descriptor == harness:
                    return False
                chunk = os.read(descriptor, 4096)
                received += chunk
                if DONE in received:
                    return True
                if not chunk:  # closed without `done`: it is dying; its pidfd tells when
                    poller.unregister(descriptor)
    finally:
        os.close(harness)


def main(argv: list[str]) -> int:
    marker, pid, ticks = Path(argv[0]), int(argv[1]), int(argv[2])
    for signum in (signal.SIGINT, signal.SIGHUP):  # a terminal's Ctrl-C or hang-up is the
        signal.signal(signum, signal.SIG_IGN)  # harness's to handle, not ours
    orderly = _await_end(pid, ticks)
    objects = read_objects(marker)
    killed = reap(objects, marker.name)
    if killed:
        how = "ended with processes still running" if orderly else "died"
        print(f"stackproof keeper: the harness {how}; killed {killed}", file=sys.stderr, flush=True)
    wait_gone(killed)
    for record in objects:
        if record.get("kind") == "cgroup":
            Cgroup(record["type"], Path(record["path"])).remove()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
