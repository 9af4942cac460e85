"""Cleanup of what a run leaves in the engine: its watcher, and `stackproof clean`'s cleaner.

Both remove only objects labelled with the run *and* the harness that made them, of a
harness that is gone: unlabelled objects, objects of live harnesses and objects whose labels
hold no run ID are never touched.
"""

from __future__ import annotations

import fcntl
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

from stackproof.containers.images import DEFAULT_BASE_IMAGE
from stackproof.leftovers.clean import clean
from stackproof.readiness import Check, wait_for
from stackproof.run import new_run_id

pytestmark = pytest.mark.containers

HELPERS = Path(__file__).parent
# A harness of its own: starts the watcher, makes the run's objects, says so, and waits to
# be killed.
HARNESS = """
import json, sys, threading
from contextlib import closing
from pathlib import Path
sys.path.insert(0, sys.argv[5])
from containers_helpers import make_objects
from stackproof.containers.engine import connect
from stackproof.containers.watcher import Watcher

run_id, log, base, harness_id = sys.argv[1], Path(sys.argv[2]), sys.argv[3], sys.argv[4]
watcher = Watcher(run_id, log, harness_id).start()
with closing(connect()) as client:
    made = make_objects(client, base, run_id, harness_id=harness_id)
print(json.dumps({"watcher": watcher.pid, "ids": made.ids}), flush=True)
threading.Event().wait()
"""


@dataclass(frozen=True)
class ProcessGone:
    pid: int

    @property
    def description(self) -> str:
        return f"process {self.pid} has exited"

    def check(self) -> Check:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return Check(True, "gone")
        return Check(False, "alive")


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
    engine: Engine, base: str, made: list[MadeObjects], tmp_path: Path
) -> None:
    # Given: a harness with a watcher and objects of its run, beside objects of the same run
    # ID made by another (live) harness, and unlabelled ones
    run_id = new_run_id()
    made.append(make_objects(engine.client, base, run_id, harness_id="another-harness"))
    made.append(make_objects(engine.client, base, None))
    log = tmp_path / "watcher.log"
    harness = subprocess.Popen(
        [sys.executable, "-c", HARNESS, run_id, str(log), base, "the-harness", str(HELPERS)],
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

        # When: the harness is killed, with no chance to clean up
        harness.send_signal(signal.SIGKILL)
        harness.wait(timeout=10)

        # Then: its objects go, and then its watcher
        wait_for(
            NoObjectsOfRun(engine.client, run_id, "the-harness"), timeout_s=120, what="the watcher"
        )
        wait_for(ProcessGone(started["watcher"]), timeout_s=30, what="the watcher's exit")
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait(timeout=10)
        for pipe in (harness.stdout, harness.stderr):
            if pipe is not None:
                pipe.close()
    assert remaining(engine.client, made[-1]) == {}
    assert "removed container" in log.read_text("utf-8")
    for untouched in made[:2]:
        assert remaining(engine.client, untouched) == untouched.ids, untouched.run_id


def _marker(root: Path, harness_id: str, run_id: str) -> Path:
    """A harness's marker (`leftovers.harness`) that recorded a compose stack of `run_id`."""
    folder = root / harness_id
    folder.mkdir(parents=True)
    (folder / "lock").touch()
    (folder / "owner.json").write_text("{}")
    records = [
        {"kind": "stack", "run_id": run_id, "label": "main"},
        {"kind": "compose_project", "run_id": run_id, "project": "p"},
    ]
    (folder / "objects.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def test_clean_removes_only_gone_harnesses_objects(
    engine: Engine, base: str, made: list[MadeObjects], tmp_path: Path
) -> None:
    # Given: a gone harness (its marker's lock free) and a live one (held), each with objects
    # of one run ID; objects of that run ID by a harness with no marker here; unlabelled
    # objects; and a run label whose value is no run ID
    run_id = new_run_id()
    root = tmp_path / "harnesses"
    _marker(root, "gone-1", run_id)
    live = _marker(root, "live-1", run_id)
    held = os.open(live / "lock", os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        dead_objects = make_objects(engine.client, base, run_id, harness_id="gone-1")
        live_objects = make_objects(engine.client, base, run_id, harness_id="live-1")
        elsewhere = make_objects(engine.client, base, run_id, harness_id="not-here")
        unlabelled = make_objects(engine.client, base, None)
        foreign = make_objects(engine.client, base, None, label_value="not a run id!")
        made.extend([dead_objects, live_objects, elsewhere, unlabelled, foreign])

        # When: `stackproof clean` runs over these markers
        report = clean(root=root, skip=("port locks",))
    finally:
        os.close(held)

    # Then: exactly the gone harness's objects went, and its marker with them
    assert [f for f in report.failed] == []
    assert remaining(engine.client, dead_objects) == {}
    for untouched in (live_objects, elsewhere, unlabelled, foreign):
        assert remaining(engine.client, untouched) == untouched.ids
    assert "gone-1" in report.markers
    assert not (root / "gone-1").exists()
    assert (root / "live-1").exists()
