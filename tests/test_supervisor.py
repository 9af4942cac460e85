"""The supervisor the process backend runs services under (R-RES-5): restarts as its policy
says, never after a stop it was asked for, and gives up at its start limit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from stackproof.backends.process.supervision import events
from stackproof.readiness import Check, wait_for

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
FAILER = [sys.executable, "-c", "import sys; sys.exit(3)"]
CLEAN = [sys.executable, "-c", "pass"]


class EventsShow:
    def __init__(self, path: Path, kind: str, count: int) -> None:
        self.path, self.kind, self.count = path, kind, count
        self.description = f"{count} {kind} event(s) in {path.name}"

    def check(self) -> Check:
        found = [e for e in events(self.path) if e["event"] == self.kind]
        return Check(len(found) >= self.count, f"{len(found)} {self.kind}")


def supervise(tmp_path: Path, command: list[str], *options: str) -> subprocess.Popen[bytes]:
    with (tmp_path / "stderr.log").open("wb") as stderr:  # the child keeps its own copy
        return subprocess.Popen(
            [
                sys.executable, "-m", "stackproof.supervisor", "--name", "t",
                "--events", str(tmp_path / "events.jsonl"), *options, "--", *command,
            ],
            start_new_session=True,
            stderr=stderr,
        )  # fmt: skip


def await_events(tmp_path: Path, kind: str, count: int) -> list[dict[str, object]]:
    wait_for(EventsShow(tmp_path / "events.jsonl", kind, count), timeout_s=20, what="supervisor")
    return events(tmp_path / "events.jsonl")


@pytest.fixture
def stop_group() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_a_killed_service_is_restarted(
    tmp_path: Path, stop_group: list[subprocess.Popen[bytes]]
) -> None:
    supervisor = supervise(tmp_path, SLEEPER, "--policy", "on-failure", "--backoff", "0")
    stop_group.append(supervisor)
    first = await_events(tmp_path, "start", 1)[0]["pid"]
    psutil.Process(int(str(first))).send_signal(signal.SIGKILL)
    found = await_events(tmp_path, "start", 2)
    exits = [e for e in found if e["event"] == "exit"]
    assert exits[0]["status"] == -signal.SIGKILL
    assert exits[0]["restart"] is True
    second = [e for e in found if e["event"] == "start"][1]["pid"]
    assert second != first
    assert [c.pid for c in psutil.Process(supervisor.pid).children()] == [second]


def test_a_stop_of_the_group_ends_supervision_without_a_restart(
    tmp_path: Path, stop_group: list[subprocess.Popen[bytes]]
) -> None:
    supervisor = supervise(tmp_path, SLEEPER, "--policy", "always")
    stop_group.append(supervisor)
    child = int(str(await_events(tmp_path, "start", 1)[0]["pid"]))
    psutil.Process(child)  # alive
    os.killpg(supervisor.pid, signal.SIGTERM)  # as ManagedProcess.stop does
    assert supervisor.wait(timeout=20) == 128 + signal.SIGTERM
    assert not psutil.pid_exists(child) or psutil.Process(child).status() == psutil.STATUS_ZOMBIE
    kinds = [e["event"] for e in events(tmp_path / "events.jsonl")]
    assert kinds.count("start") == 1
    assert "stop" in kinds


def test_a_stop_sent_to_the_supervisor_alone_reaches_the_service(
    tmp_path: Path, stop_group: list[subprocess.Popen[bytes]]
) -> None:
    supervisor = supervise(tmp_path, SLEEPER)
    stop_group.append(supervisor)
    await_events(tmp_path, "start", 1)
    supervisor.send_signal(signal.SIGTERM)
    assert supervisor.wait(timeout=20) == 128 + signal.SIGTERM


def test_policy_never_and_on_failure_leave_a_clean_exit_alone(
    tmp_path: Path, stop_group: list[subprocess.Popen[bytes]]
) -> None:
    supervisor = supervise(tmp_path, CLEAN, "--policy", "on-failure")
    stop_group.append(supervisor)
    assert supervisor.wait(timeout=20) == 0
    kinds = [e["event"] for e in events(tmp_path / "events.jsonl")]
    assert kinds == ["start", "exit"]


def test_it_gives_up_at_the_start_limit(
    tmp_path: Path, stop_group: list[subprocess.Popen[bytes]]
) -> None:
    supervisor = supervise(
        tmp_path, FAILER, "--policy", "on-failure", "--max-restarts", "2", "--backoff", "0"
    )
    stop_group.append(supervisor)
    assert supervisor.wait(timeout=30) == 3
    found = events(tmp_path / "events.jsonl")
    assert [e["event"] for e in found].count("start") == 3  # the first start and two restarts
    assert found[-1]["event"] == "give_up"
    assert "giving up" in (tmp_path / "stderr.log").read_text()


def test_a_missing_command_is_said_plainly(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "stackproof.supervisor", "--", str(tmp_path / "no-such-binary")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 127
    assert "cannot run" in done.stderr
