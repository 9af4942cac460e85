"""Cleanup of what a run leaves in the engine: its watcher, and `stackproof clean`'s cleaner.

Both remove only objects labelled with a dead run's ID: unlabelled objects, objects of live
runs and objects whose run label holds no run ID are never touched.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from containers_helpers import (
    Engine,
    MadeObjects,
    NoObjectsOfRun,
    make_objects,
    remaining,
    remove_made,
)

from stackproof.containers import liveness
from stackproof.containers.cleaner import Leftovers, find_leftovers, remove_leftovers
from stackproof.containers.images import DEFAULT_BASE_IMAGE
from stackproof.containers.liveness import RunLock
from stackproof.readiness import Check, wait_for
from stackproof.run import new_run_id

pytestmark = pytest.mark.containers

HELPERS = Path(__file__).parent
# A harness of its own: holds the run's lock, starts the watcher, makes the run's objects,
# says so, and waits to be killed.
HARNESS = """
import json, sys, threading
from contextlib import closing
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from containers_helpers import make_objects
from stackproof.containers.engine import connect
from stackproof.containers.liveness import RunLock
from stackproof.containers.watcher import Watcher

run_id, log, base = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
RunLock(run_id).acquire()
watcher = Watcher(run_id, log).start()
with closing(connect()) as client:
    made = make_objects(client, base, run_id)
print(json.dumps({"watcher": watcher.pid, "ids": made.ids}), flush=True)
threading.Event().wait()
"""


@dataclass(frozen=True)
class RunIsOver:
    run_id: str

    @property
    def description(self) -> str:
        return f"nobody holds the lock of run {self.run_id}"

    def check(self) -> Check:
        alive = liveness.is_alive(self.run_id)
        return Check(not alive, "held" if alive else "free")


@pytest.fixture
def base(engine: Engine) -> str:
    engine.require_image(DEFAULT_BASE_IMAGE, "make it with `stackproof images base`")
    return DEFAULT_BASE_IMAGE


@pytest.fixture
def made(engine: Engine) -> Iterator[list[MadeObjects]]:
    """The test's objects; removed after it, whatever it left."""
    objects: list[MadeObjects] = []
    yield objects
    for item in objects:
        remove_made(engine.client, item)


def test_watcher_removes_a_killed_harness_objects(
    engine: Engine, base: str, made: list[MadeObjects], runs_dir: Path, tmp_path: Path
) -> None:
    # Given: a harness with a watcher and objects of its run, beside another live run's
    # objects and unlabelled ones
    run_id, other_id = new_run_id(), new_run_id()
    other_lock = RunLock(other_id).acquire()
    made.append(make_objects(engine.client, base, other_id))
    made.append(make_objects(engine.client, base, None))
    log = tmp_path / "watcher.log"
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, run_id, str(log), base, str(HELPERS)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        line = harness.stdout.readline() if harness.stdout else ""
        assert line, f"the harness did not start: {harness.stderr.read() if harness.stderr else ''}"
        started = json.loads(line)
        made.append(MadeObjects(run_id, started["ids"]))
        assert remaining(engine.client, made[-1]) == started["ids"]
        assert liveness.is_alive(run_id)

        # When: the harness is killed, with no chance to clean up
        harness.send_signal(signal.SIGKILL)
        harness.wait(timeout=10)

        # Then: its run's objects go, and then its watcher
        wait_for(NoObjectsOfRun(engine.client, run_id), timeout_s=120, what="the watcher")
        wait_for(RunIsOver(run_id), timeout_s=30, what="the watcher's exit")
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait(timeout=10)
        for pipe in (harness.stdout, harness.stderr):
            if pipe is not None:
                pipe.close()
        other_lock.release()
    assert remaining(engine.client, made[-1]) == {}
    assert "removed container" in log.read_text("utf-8")
    for untouched in made[:2]:
        assert remaining(engine.client, untouched) == untouched.ids, untouched.run_id


def test_cleaner_removes_dead_runs_objects_only(
    engine: Engine, base: str, made: list[MadeObjects], runs_dir: Path
) -> None:
    # Given: a run that ended (its lock there, free), a live one, one that never took a
    # lock here (another tool's, maybe alive), unlabelled objects, and a run label whose
    # value is no run ID
    ended, live, lockless = new_run_id(), new_run_id(), new_run_id()
    with RunLock(ended):
        pass
    live_lock = RunLock(live).acquire()
    try:
        dead_objects = make_objects(engine.client, base, ended)
        live_objects = make_objects(engine.client, base, live)
        lockless_objects = make_objects(engine.client, base, lockless)
        unlabelled = make_objects(engine.client, base, None)
        foreign = make_objects(engine.client, base, None, label_value="not a run id!")
        made.extend([dead_objects, live_objects, lockless_objects, unlabelled, foreign])

        # When: the cleaner looks, and removes what it found of these runs
        leftovers = find_leftovers(engine.client)
        ours = tuple(o for o in leftovers.dead if o.run_id in (ended, live, lockless))
        problems = remove_leftovers(Leftovers(ours, (), ()), engine.client)
    finally:
        live_lock.release()

    # Then: exactly the ended run's objects went
    assert {o.id for o in ours} == set(dead_objects.ids.values())
    assert live in leftovers.live_runs
    assert set(lockless_objects.ids.values()) <= {o.id for o in leftovers.unregistered}
    assert set(foreign.ids.values()) <= {o.id for o in leftovers.foreign}
    assert problems == []
    assert remaining(engine.client, dead_objects) == {}
    for untouched in (live_objects, lockless_objects, unlabelled, foreign):
        assert remaining(engine.client, untouched) == untouched.ids
    assert not liveness.lock_path(ended).exists()  # a dead run's lock file goes with it
