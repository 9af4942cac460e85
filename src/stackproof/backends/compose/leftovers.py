"""What the compose backend leaves when its harness is killed, for `stackproof clean`: every
container, network, volume and per-run image labelled with a run of a gone harness
(`GoneHarness.run_ids`) and made by that harness (its ID is a label too: a run ID may
repeat, `--run-id=run`, a harness ID does not). Registered in `leftovers.clean.CLEANERS`.

A run is gone exactly when its harness is (the lock of the harness's marker is free): the
same rule as for processes, folders and iptables chains. Objects whose run label names no
run of a gone harness here — a live run's, another host's or tool's, or a value that is no
run ID — are never touched, nor is an object without the label.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import closing

from stackproof.containers.engine import EngineObject, connect, remove_objects, run_objects
from stackproof.errors import BackendUnavailableError
from stackproof.leftovers.clean import GoneHarness, Leftover
from stackproof.run import RUN_ID_PATTERN


def _made_containers(harness: GoneHarness) -> bool:
    return bool(harness.records("compose_project"))


class EngineObjects:
    """The labelled engine objects of the runs of gone harnesses."""

    name = "containers"

    def find(self, gone: Sequence[GoneHarness]) -> list[Leftover]:
        owners = sorted(
            (run_id, harness.id)
            for harness in gone
            if _made_containers(harness)
            for run_id in harness.run_ids
            if RUN_ID_PATTERN.match(run_id)
        )
        if not owners:
            return []
        try:
            client = connect(timeout_s=30)
        except BackendUnavailableError as error:
            # Its markers stay: the next clean, with an engine, finishes the job.
            raise RuntimeError(f"the run's containers cannot be looked for: {error}") from None
        found = []
        with closing(client):
            for run_id, harness_id in owners:
                objects = run_objects(client, run_id, harness_id)
                if objects:
                    listed = ", ".join(o.describe() for o in objects)
                    found.append(Leftover(self.name, listed, harness_id, tuple(objects)))
        return found

    def remove(self, leftover: Leftover) -> None:
        objects: tuple[EngineObject, ...] = leftover.handle
        with closing(connect(timeout_s=60)) as client:
            problems = remove_objects(client, objects)
        if problems:
            raise RuntimeError("; ".join(problems))
