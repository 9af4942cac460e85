"""What dead runs left in the Docker engine, for `stackproof clean`.

Only objects with a run label are considered, and of those only the ones whose run is
known to be dead: its lock file is there and nobody holds it (see `liveness`), or it has
no lock file and the object is older than the host's last boot (no run outlives a reboot;
the lock folder is a tmpfs). An object of a run with no lock here, made since the boot, is
left alone: a run that does not register its lock on this host (another tool, another
host's harness on this engine) may well be alive. Unlabelled objects, objects of live runs,
images built for reuse (labelled `org.stackproof.image`, never with a run) and run labels
whose value is no run ID are never touched.

    leftovers = find_leftovers()          # BackendUnavailableError if no engine answers
    problems = remove_leftovers(leftovers)

`python -m stackproof.containers.cleaner [--dry-run]` does both (the hook until
`stackproof clean` has a registry of cleaners).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from contextlib import closing
from dataclasses import dataclass

import docker
import psutil

from stackproof.containers import liveness
from stackproof.containers.engine import EngineObject, connect, remove_objects, run_objects
from stackproof.errors import BackendUnavailableError


@dataclass(frozen=True, slots=True)
class Leftovers:
    """Run-labelled objects of the engine, sorted by what may be done with them."""

    dead: tuple[EngineObject, ...]  # of runs that are gone: to remove
    live_runs: tuple[str, ...]  # runs still alive: their objects are theirs
    foreign: tuple[EngineObject, ...]  # a run label whose value is no run ID: not ours
    unregistered: tuple[EngineObject, ...] = ()  # no lock here, made since the boot

    def describe(self) -> list[str]:
        lines = [f"leftover {item.describe()}" for item in self.dead]
        lines += [f"left alone: run {run_id} is alive" for run_id in self.live_runs]
        lines += [f"left alone: {item.describe()} (not a run ID)" for item in self.foreign]
        lines += [
            f"left alone: {item.describe()} (its run has no lock on this host: alive elsewhere?)"
            for item in self.unregistered
        ]
        return lines


def classify(objects: list[EngineObject], boot_time: float) -> Leftovers:
    """Sort run-labelled objects by what their run's lock (or its absence) says."""
    by_run: dict[str, list[EngineObject]] = defaultdict(list)
    for item in objects:
        by_run[item.run_id].append(item)
    dead: list[EngineObject] = []
    live: list[str] = []
    foreign: list[EngineObject] = []
    unregistered: list[EngineObject] = []
    for run_id, items in sorted(by_run.items()):
        try:
            alive = liveness.is_alive(run_id)
            registered = liveness.lock_path(run_id).exists()
        except ValueError:
            foreign += items
            continue
        if alive:
            live.append(run_id)
        elif registered:
            dead += items
        else:
            dead += [item for item in items if item.created < boot_time]
            unregistered += [item for item in items if item.created >= boot_time]
    return Leftovers(tuple(dead), tuple(live), tuple(foreign), tuple(unregistered))


def find_leftovers(client: docker.DockerClient | None = None) -> Leftovers:
    """The engine's run-labelled objects, split into dead runs', live runs' and foreign."""
    if client is None:
        with closing(connect()) as own:
            return find_leftovers(own)
    return classify(run_objects(client), psutil.boot_time())


def remove_leftovers(leftovers: Leftovers, client: docker.DockerClient | None = None) -> list[str]:
    """Remove the dead runs' objects; return what could not be removed, and why.

    Each run's liveness is asked again just before: a run is never revived, but the
    question costs nothing and keeps a mistaken caller from removing a live run's objects.
    """
    if client is None:
        with closing(connect()) as own:
            return remove_leftovers(leftovers, own)
    still_dead = [item for item in leftovers.dead if not liveness.is_alive(item.run_id)]
    problems = remove_objects(client, still_dead)
    for run_id in {item.run_id for item in still_dead}:
        liveness.forget(run_id)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stackproof.containers.cleaner",
        description="Remove the containers, networks, volumes and images of dead runs.",
    )
    parser.add_argument("--dry-run", action="store_true", help="only list what would go")
    args = parser.parse_args(argv)
    try:
        leftovers = find_leftovers()
        for line in leftovers.describe():
            print(line)
        problems = [] if args.dry_run else remove_leftovers(leftovers)
    except BackendUnavailableError as error:
        print(f"containers: nothing to clean: {error}", file=sys.stderr)
        return 0
    for problem in problems:
        print(f"could not remove {problem}", file=sys.stderr)
    if not leftovers.dead:
        print("containers: no leftovers of dead runs")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
