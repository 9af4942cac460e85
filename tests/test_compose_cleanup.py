"""Nothing of a compose run is left: after the harness is SIGKILLed mid-run, and its cleanup
watcher with it, `stackproof clean` removes every object labelled with the run, and only
those (objects of other runs and unlabelled ones are the watcher tests' concern).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from compose_support import engine_or_skip
from support import REFERENCE, suites_command

from stackproof.containers import engine, labels
from stackproof.readiness import Check, wait_for

pytestmark = [pytest.mark.stack, pytest.mark.containers]

RUN_ID = "sigkill-compose"


@dataclass(frozen=True)
class ContainersRunning:
    """The run has containers up (it is mid-run)."""

    run_id: str

    @property
    def description(self) -> str:
        return f"a running container labelled {labels.RUN}={self.run_id}"

    def check(self) -> Check:
        with closing(engine.connect()) as client:
            found = client.containers.list(filters=labels.run_filter(self.run_id))
        return Check(len(found) >= 3, f"{len(found)} running")


def _watchers(run_id: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        argv = process.info["cmdline"] or []
        if "stackproof.containers.watcher" in argv and run_id in argv:
            found.append(process)
    return found


def test_sigkill_mid_run_leaves_no_labelled_object_after_clean(tmp_path: Path) -> None:
    engine_or_skip()
    # Given: a conformance run on compose, its stacks up
    harness = subprocess.Popen(
        suites_command(
            f"--profile={REFERENCE}",
            "--backend=compose",
            f"--reports-dir={tmp_path}",
            f"--run-id={RUN_ID}",
            "-k",
            "tls12_and_tls13 or redirects_to_the_same_path",
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(ContainersRunning(RUN_ID), timeout_s=600, what="the run's stack")
        watchers = _watchers(RUN_ID)
        assert watchers, "the run started no cleanup watcher"
        # When: the harness is killed, and its watcher too (the worst case: nothing of the
        # run is left to clean up after it)
        harness.send_signal(signal.SIGKILL)
        for watcher in watchers:
            os.kill(watcher.pid, signal.SIGKILL)
        harness.wait(timeout=30)
    finally:
        if harness.poll() is None:
            harness.kill()
            harness.wait(timeout=30)
    with closing(engine.connect()) as client:
        assert engine.run_objects(client, RUN_ID), "the killed run left nothing to clean"

    # Then: `stackproof clean` removes every object labelled with the run
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from stackproof.cli import main; sys.exit(main())",
         "clean"],
        capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert "containers:" in done.stdout, done.stdout + done.stderr
    with closing(engine.connect()) as client:
        left = [o.describe() for o in engine.run_objects(client, RUN_ID)]
    assert left == [], done.stdout + done.stderr
