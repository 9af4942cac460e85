"""A stack watched while it serves, and started so that the right process answers.

- A service that exits on its own after the stack is up is `failure()` at once, with its
  exit status and log tail; exits the harness asked for are not.
- A port a foreign program takes between allocation and bind (the issue's nginx, whose HTTP
  port went to someone else while it kept its HTTPS socket) is never "ready": the stack
  comes up again on fresh ports, once, and says so; a second time is a clear start error.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from support import NOTES_EXAMPLE

from stackproof.backends.process import ProcessBackend, ProcessStack
from stackproof.backends.process.nginx import NginxService
from stackproof.backends.values import StackFailure
from stackproof.errors import ServiceStartError
from stackproof.ports import PortInUseError, bindable
from stackproof.procs import ProcessSpec, run_processes
from stackproof.profile import Profile, load_profile
from stackproof.readiness import Check, wait_for
from stackproof.run import RunContext, read_manifest

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def notes() -> Profile:
    profile = load_profile(NOTES_EXAMPLE)
    ProcessBackend().check(profile)
    return profile


class FailureSeen:
    description = "the stack reports a failure"

    def __init__(self, stack: ProcessStack) -> None:
        self.stack = stack

    def check(self) -> Check:
        return Check(self.stack.failure() is not None, str(self.stack.failure()))


def _listening(port: int) -> bool:
    return not bindable(port)


def test_a_service_killed_by_hand_is_the_stack_failure(tmp_path: Path, notes: Profile) -> None:
    run = RunContext("watch-kill", tmp_path / "run")
    with ProcessBackend().up(notes, run, "main") as stack:
        # Given exits the harness asks for: a stop and start, a SIGKILL its supervisor answers.
        stack.service("redis").stop()
        stack.service("redis").start()
        stack.service("notes").kill()
        assert stack.failure() is None, "an exit the harness asked for is no failure"
        # When nginx's master is killed by hand (its pid file says which process it is),
        master = int((stack.temp_dir / "nginx" / "nginx.pid").read_text().split()[0])
        assert master == stack.process("nginx").pid
        os.kill(master, signal.SIGKILL)
        # then the stack names it, with how it ended and what it last logged.
        wait_for(FailureSeen(stack), timeout_s=10, what="the stack's watcher")
        failure = stack.failure()
        assert isinstance(failure, StackFailure)
        assert failure.service == "nginx"
        assert failure.exit_status == -signal.SIGKILL
        assert "killed by signal SIGKILL" in failure.detail
        assert "unasked" in failure.detail
        assert "starting nginx" in failure.log_tail
        assert "service 'nginx' of the stack exited after the stack was up" in failure.describe()
        ports = list(stack.service("nginx").service.context.ports.values())
        # Started again (as a deploy rolling back from a crashed release does), the stack
        # serves again: no longer a failure.
        stack.service("nginx").start()
        assert stack.failure() is None
    # Its workers outlived the master (they are in its process group, with no run ID in
    # their environment): tear-down killed them all the same.
    assert [port for port in ports if _listening(port)] == []
    assert run_processes("watch-kill") == []
    assert any(r["kind"] == "stack_failure" for r in read_manifest(run.manifest_path))


class Restarted:
    description = "the supervisor has a new service process"

    def __init__(self, stack: ProcessStack, name: str, killed: int) -> None:
        self.control = stack.service(name)
        self.killed = killed

    def check(self) -> Check:
        pid = self.control.pid
        return Check(pid is not None and pid != self.killed, f"pid {pid}")


def test_a_supervisors_restart_is_no_failure_its_death_is(tmp_path: Path, notes: Profile) -> None:
    run = RunContext("watch-supervised", tmp_path / "run")
    with ProcessBackend().up(notes, run, "main") as stack:
        # The service dies by hand: its supervisor restarts it, and nothing failed.
        child = stack.service("notes").pid
        assert child is not None
        os.kill(child, signal.SIGKILL)
        wait_for(Restarted(stack, "notes", child), timeout_s=20, what="the supervisor")
        assert stack.failure() is None, "a restart inside the supervisor is no failure"
        # The supervisor dies by hand: the service is gone for good.
        supervisor = stack.process("notes").pid
        assert supervisor is not None
        os.kill(supervisor, signal.SIGKILL)
        wait_for(FailureSeen(stack), timeout_s=10, what="the stack's watcher")
        failure = stack.failure()
        assert failure is not None
        assert failure.service == "notes"
        assert failure.exit_status == -signal.SIGKILL
        assert "its supervisor ended: killed by signal SIGKILL" in failure.detail


Steal = Callable[[int], list[socket.socket]]


@pytest.fixture
def steal_http_port(monkeypatch: pytest.MonkeyPatch) -> Iterator[Steal]:
    """Another program takes nginx's plain-HTTP port just before nginx starts (the first
    `times` starts), after the stack's allocator locked it: what `:0` did in the issue."""
    taken: list[socket.socket] = []

    def arrange(times: int) -> list[socket.socket]:
        prepare = NginxService.prepare

        def stealing(self: NginxService) -> Sequence[ProcessSpec]:
            if len(taken) < times:
                taken.append(socket.create_server(("127.0.0.1", self.context.ports["http"])))
            return prepare(self)

        monkeypatch.setattr(NginxService, "prepare", stealing)
        return taken

    yield arrange
    for sock in taken:
        sock.close()


def test_a_taken_port_starts_the_stack_again_on_fresh_ports(
    tmp_path: Path, notes: Profile, steal_http_port: Steal
) -> None:
    taken = steal_http_port(1)
    run = RunContext("watch-conflict", tmp_path / "run")
    with ProcessBackend().up(notes, run, "main") as stack:
        (held,) = taken
        stolen = held.getsockname()[1]
        assert stack.public.http is not None
        assert stolen not in (stack.public.http.port, stack.public.https.port)
        assert stack.failure() is None
        assert len(stack.notes) == 1
        assert "service 'nginx'" in stack.notes[0]
        assert "address in use" in stack.notes[0]
        assert f"127.0.0.1:{stolen}" in stack.notes[0]
    records = read_manifest(run.manifest_path)
    conflicts = [r for r in records if r["kind"] == "port_conflict"]
    assert len(conflicts) == 1
    assert conflicts[0]["service"] == "nginx"
    assert conflicts[0]["ports"] == [stolen]
    assert conflicts[0]["retried"] is True
    assert f"port {stolen} held by pid {os.getpid()}" in conflicts[0]["holders"]
    assert sum(r["kind"] == "stack_ready" for r in records) == 1
    assert run_processes("watch-conflict") == []


def test_a_port_taken_again_is_a_start_error_naming_the_service(
    tmp_path: Path, notes: Profile, steal_http_port: Steal
) -> None:
    steal_http_port(2)
    run = RunContext("watch-conflict-twice", tmp_path / "run")
    with pytest.raises(PortInUseError) as raised, ProcessBackend().up(notes, run, "main"):
        pytest.fail("the stack came up on a port another program holds")
    assert isinstance(raised.value, ServiceStartError)  # what the plugin reports as `error`
    message = str(raised.value)
    assert "service 'nginx'" in message
    assert "address in use" in message
    notes_text = "\n".join(raised.value.__notes__)
    assert "second start, on fresh ports" in notes_text
    assert "failed (98: Address in use)" in notes_text, "the log tail shows nginx's own words"
    assert run_processes("watch-conflict-twice") == []
