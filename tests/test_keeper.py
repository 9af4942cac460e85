"""A harness that is killed leaves no process: its keeper kills, the moment it dies, what its
marker's records lead to — nginx-like workers with a cleared environment, in the group of a
dead master, and (where the harness has a cgroup) a daemon that left its group too."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stackproof.cache import CACHE_ENV
from stackproof.leftovers import cgroups
from stackproof.leftovers.clean import clean
from stackproof.readiness import Check, wait_for

# The "service": a worker that stays in its group with an empty environment (nginx's), a
# daemon that starts a session of its own with an empty environment, then it waits.
SERVICE = r"""
import subprocess, sys
sleep = [sys.executable, "-c", "import time; time.sleep(300)"]
worker = subprocess.Popen(sleep, env={})
daemon = subprocess.Popen(sleep, env={}, start_new_session=True)
print(worker.pid, daemon.pid, flush=True)
sys.stdin.read()
"""

# The "harness": starts the service as the stack does, says what it made, waits.
HARNESS = r"""
import sys
from pathlib import Path
from stackproof.leftovers.harness import Harness
from stackproof.procs import ManagedProcess, ProcessSpec
folder = Path(sys.argv[1])
service = ManagedProcess(
    ProcessSpec("service", (sys.executable, "-c", sys.argv[2]), {"PATH": "/usr/bin:/bin"},
                folder, folder / "service.log"),
    run_id="keeper-test",
)
service.start()
harness = Harness.current()
print(service.pid, harness.path, harness.cgroup is not None, flush=True)
if sys.stdin.read() == "leak":
    pass  # an orderly exit with the service still running: a leak the keeper ends
"""


class Harness:
    def __init__(self, folder: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", HARNESS, str(folder), SERVICE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        service, marker, has_cgroup = self.process.stdout.readline().split()
        self.service = int(service)
        self.marker = Path(marker)
        self.has_cgroup = has_cgroup == "True"
        log = folder / "service.log"
        wait_for(ServiceUp(log), timeout_s=20, what="the service's children")
        self.worker, self.daemon = (int(p) for p in log.read_text().splitlines()[-1].split())
        self.keeper = next(
            json.loads(line)["pid"]
            for line in (self.marker / "objects.jsonl").read_text().splitlines()
            if json.loads(line)["kind"] == "keeper"
        )

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


class ServiceUp:
    description = "the service printed its children"

    def __init__(self, log: Path) -> None:
        self.log = log

    def check(self) -> Check:
        text = self.log.read_text() if self.log.exists() else ""
        last = text.splitlines()[-1:] or [""]
        return Check(len(last[0].split()) == 2 and last[0].replace(" ", "").isdigit(), last[0])


class Gone:
    def __init__(self, *pids: int) -> None:
        self.pids = pids
        self.description = f"processes {list(pids)} are gone"

    def check(self) -> Check:
        alive = [pid for pid in self.pids if _alive(pid)]
        return Check(not alive, f"alive: {alive}")


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(params=["cgroup", "no-cgroup"])
def harness(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Harness]:
    """A harness with its cgroup where this host gives one, and one without (process groups
    and the environment alone, as on a host without a writable cgroup)."""
    if request.param == "cgroup" and not cgroups.available():
        pytest.skip("no writable cgroup here")
    if request.param == "no-cgroup":
        monkeypatch.setenv(cgroups.DISABLE_ENV, "1")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))  # markers of its own
    made = Harness(tmp_path)
    yield made
    made.close()
    for pid in (made.service, made.worker, made.daemon):
        if _alive(pid):
            psutil.Process(pid).kill()


def test_a_killed_harness_leaves_no_process_of_its_groups(harness: Harness) -> None:
    assert _alive(harness.worker)
    harness.process.send_signal(signal.SIGKILL)
    # The service died of the parent-death signal; its worker (no run ID, no parent) and
    # everything else the records lead to go with it, with no clean run.
    wait_for(Gone(harness.service, harness.worker, harness.keeper), timeout_s=15, what="keeper")
    assert harness.marker.is_dir(), "the marker stays for `stackproof clean`"


def test_a_daemon_that_left_its_group_dies_with_the_harness_cgroup(harness: Harness) -> None:
    if not harness.has_cgroup:
        pytest.skip("without a cgroup nothing can tell such a daemon is the harness's")
    assert _alive(harness.daemon)
    harness.process.send_signal(signal.SIGKILL)
    wait_for(Gone(harness.daemon, harness.worker), timeout_s=15, what="the keeper")
    report = clean(root=harness.marker.parent)
    assert [leftover.cleaner for leftover in report.failed] == []
    assert not harness.marker.exists()


def test_an_orderly_end_kills_a_leak_and_removes_the_marker(harness: Harness) -> None:
    assert harness.process.stdin is not None
    harness.process.stdin.write("leak")
    harness.process.stdin.close()
    assert harness.process.wait(timeout=30) == 0
    wait_for(Gone(harness.service, harness.worker, harness.keeper), timeout_s=15, what="keeper")
    assert not harness.marker.exists()
