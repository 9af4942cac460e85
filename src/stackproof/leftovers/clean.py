"""`stackproof clean`: remove what runs that are gone left behind, and nothing else.

A harness is gone when the lock of its marker can be taken (`harness.py`); only the records
of gone harnesses are acted on, and each is held locked while it is cleaned, so two cleans
(or a clean and the next run) never work on one. Each cleaner finds what is still there,
removes it and says what it removed; what could not be removed keeps its marker, so the next
clean tries again. The next run does the same at its first stack (`clean_once`).

Adding a cleaner (the container backend's labelled objects, say) is one class with `name`,
`find` and `remove`, and one line in `CLEANERS`, in the order things must go: processes
first (they hold ports and files), markers last.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from stackproof.leftovers.cgroups import Cgroup
from stackproof.leftovers.harness import LOCK, OWNER, markers_root
from stackproof.leftovers.keeper import read_objects
from stackproof.leftovers.reap import describe, find, reap, wait_gone
from stackproof.ports import lock_dir, remove_stale_locks, try_lock

TEMP_PREFIX = "stackproof-"

# Cleaners in the order they run, as "module:Class" (imported on use: a backend's cleaner
# lives with the backend, which imports this module).
CLEANERS: tuple[str, ...] = (
    "stackproof.leftovers.clean:Processes",
    "stackproof.backends.process.leftovers:IptablesChains",
    "stackproof.backends.compose.leftovers:EngineObjects",
    "stackproof.leftovers.clean:TempFolders",
    "stackproof.leftovers.clean:Cgroups",
    "stackproof.leftovers.clean:PortLocks",
)


@dataclass(frozen=True)
class GoneHarness:
    """The marker of a harness that is gone, with what it recorded."""

    path: Path
    owner: dict[str, Any]
    objects: tuple[dict[str, Any], ...]

    @property
    def id(self) -> str:
        return self.path.name

    def records(self, kind: str) -> list[dict[str, Any]]:
        return [record for record in self.objects if record.get("kind") == kind]

    @property
    def run_ids(self) -> set[str]:
        """The runs whose stacks it brought up (for cleaners that find objects by run label)."""
        return {r["run_id"] for r in self.records("stack") if "run_id" in r}


@dataclass(frozen=True)
class Leftover:
    """One thing a cleaner found: `what` says it to a person; `handle` is the cleaner's."""

    cleaner: str
    what: str
    harness: str | None = None  # the marker it came from (None: found otherwise)
    handle: Any = field(default=None, compare=False)


class Cleaner(Protocol):
    name: str

    def find(self, gone: Sequence[GoneHarness]) -> list[Leftover]: ...

    def remove(self, leftover: Leftover) -> None:
        """Remove it; raise (OSError, RuntimeError, ...) with the reason when it cannot."""


@dataclass
class CleanReport:
    removed: list[Leftover] = field(default_factory=list)
    failed: list[tuple[Leftover, str]] = field(default_factory=list)
    markers: list[str] = field(default_factory=list)

    @property
    def nothing(self) -> bool:
        return not (self.removed or self.failed or self.markers)


# --- the cleaners ---


class Processes:
    """Every process a gone harness's records lead to (`reap.py`): nginx workers included."""

    name = "processes"

    def find(self, gone: Sequence[GoneHarness]) -> list[Leftover]:
        found = []
        for harness in gone:
            pids = find(harness.objects, harness.id)
            if pids:
                listed = ", ".join(describe(pid) for pid in sorted(pids))
                found.append(Leftover(self.name, f"processes {listed}", harness.id, harness))
        return found

    def remove(self, leftover: Leftover) -> None:
        harness: GoneHarness = leftover.handle
        killed = reap(harness.objects, harness.id)
        if alive := wait_gone(killed):
            raise RuntimeError(f"still alive after SIGKILL: {alive}")


class TempFolders:
    """Temporary folders of stacks (a PostgreSQL data folder: tens of MB each)."""

    name = "temp folders"

    def find(self, gone: Sequence[GoneHarness]) -> list[Leftover]:
        found = []
        for harness in gone:
            for record in harness.records("temp_dir"):
                path = Path(record["path"])
                if path.name.startswith(TEMP_PREFIX) and path.is_dir() and not path.is_symlink():
                    found.append(Leftover(self.name, str(path), harness.id, path))
        return found

    def remove(self, leftover: Leftover) -> None:
        shutil.rmtree(leftover.handle)


class Cgroups:
    """The cgroup of a gone harness, once its processes are gone."""

    name = "cgroups"

    def find(self, gone: Sequence[GoneHarness]) -> list[Leftover]:
        found = []
        for harness in gone:
            for record in harness.records("cgroup"):
                cgroup = Cgroup(record["type"], Path(record["path"]))
                if cgroup.path.is_dir():
                    found.append(Leftover(self.name, str(cgroup.path), harness.id, cgroup))
        return found

    def remove(self, leftover: Leftover) -> None:
        if not leftover.handle.remove():
            raise RuntimeError(f"{leftover.handle.path} is not empty")


class PortLocks:
    """Port lock files no process holds (`ports.py`): their runs are gone."""

    name = "port locks"

    def find(self, gone: Sequence[GoneHarness]) -> list[Leftover]:
        ports = remove_stale_locks(dry_run=True)
        if not ports:
            return []
        folder = lock_dir() / "ports"
        return [Leftover(self.name, f"{len(ports)} lock files in {folder}", None, folder)]

    def remove(self, leftover: Leftover) -> None:
        remove_stale_locks(leftover.handle)


# --- finding gone harnesses, and the driver ---


def cleaners() -> list[Cleaner]:
    made: list[Cleaner] = []
    for dotted in CLEANERS:
        module, _, name = dotted.partition(":")
        made.append(getattr(importlib.import_module(module), name)())
    return made


@contextmanager
def gone_harnesses(root: Path | None = None) -> Iterator[list[GoneHarness]]:
    """The markers whose lock this process could take, held locked until the block ends."""
    root = root or markers_root()
    held: list[int] = []
    gone: list[GoneHarness] = []
    try:
        for path in sorted(root.iterdir()) if root.is_dir() else []:
            if not (path / LOCK).exists():
                continue  # not a marker (or one being made: `.new-*` holds its lock first)
            descriptor = try_lock(path / LOCK)
            if descriptor is None:
                continue  # its harness lives
            held.append(descriptor)
            gone.append(GoneHarness(path, _owner(path), tuple(read_objects(path))))
        yield gone
    finally:
        for descriptor in held:
            os.close(descriptor)


def _owner(path: Path) -> dict[str, Any]:
    try:
        owner: dict[str, Any] = json.loads((path / OWNER).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return owner


def clean(
    *, dry_run: bool = False, root: Path | None = None, skip: Collection[str] = ()
) -> CleanReport:
    """Find and (unless `dry_run`) remove every leftover of gone harnesses (but those of the
    cleaners named in `skip`)."""
    report = CleanReport()
    with gone_harnesses(root) as gone:
        for cleaner in cleaners():
            if cleaner.name in skip:
                continue
            try:
                found = cleaner.find(gone)
            except (OSError, RuntimeError, subprocess.SubprocessError) as error:
                report.failed.append(
                    (Leftover(cleaner.name, "(looking for leftovers)"), str(error))
                )
                continue
            for leftover in found:
                if dry_run:
                    report.removed.append(leftover)
                    continue
                try:
                    cleaner.remove(leftover)
                except (OSError, RuntimeError, subprocess.SubprocessError) as error:
                    report.failed.append((leftover, str(error)))
                else:
                    report.removed.append(leftover)
        if not dry_run:
            failed = {leftover.harness for leftover, _ in report.failed}
            for harness in gone:  # a cleaner that could not look fails every marker
                if harness.id not in failed and None not in failed:
                    shutil.rmtree(harness.path, ignore_errors=True)
                    report.markers.append(harness.id)
    return report


class _Once:
    done = False
    guard = threading.Lock()


def clean_once() -> CleanReport | None:
    """What the next run does at its first stack: clean up after gone runs, once per process.
    Port lock files stay for `stackproof clean` (a few bytes each, and deleting one costs
    a filesystem's discard: with hundreds, the next start would pay for it).

    Never raises: a leftover it cannot remove is for `stackproof clean` to report."""
    with _Once.guard:
        if _Once.done:
            return None
        _Once.done = True
    with contextlib.suppress(OSError):
        return clean(skip=(PortLocks.name,))
    return None
