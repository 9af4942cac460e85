"""A service of a running stack on a staging host as the suites see it (`ServiceControl`),
and the host itself (`HostAccess`): what the runtimes tell, control where the profile
allows it."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from stackproof.backends.base import ServiceControl
from stackproof.backends.hosts import CommandRun, HostedService
from stackproof.backends.remote.front import endpoint_of
from stackproof.backends.remote.runtimes import CONTROL_TIMEOUT_S, Runtime
from stackproof.backends.remote.ssh import SshHost
from stackproof.backends.values import Endpoint
from stackproof.errors import CapabilityMissingError, PreconditionError
from stackproof.readiness import Check, wait_for


class _Identity:
    def __init__(self, runtime: Runtime, before: str | None, want_running: bool) -> None:
        self.runtime, self.before, self.want_running = runtime, before, want_running
        self.description = f"{runtime.name} {'running' if want_running else 'stopped'}"

    def check(self) -> Check:
        now = self.runtime.identity()
        if self.want_running:
            return Check(now is not None and now != self.before, f"identity {now}")
        return Check(now is None, f"still running as {now}")


class RemoteService(ServiceControl):
    """A service of a running stack: its URL (if the profile gives one) and, where the profile
    says how it runs on the host, what the host tells of it and control where allowed."""

    def __init__(
        self,
        name: str,
        kind: str,
        url: str | None,
        runtime: Runtime | None,
        admin: Callable[[], str] | None = None,
    ) -> None:
        super().__init__(name, kind)
        self._url = url
        self._runtime = runtime
        self._admin = admin

    def endpoint(self, port: str | None = None) -> Endpoint:
        return endpoint_of(self.base_url())

    def listen_port(self) -> int:
        """On the host: `remote.services.<name>.listen` where the profile names it (the
        harness then reaches the service through a forward), else its URL's port."""
        listen = None if self._runtime is None else self._runtime.settings.listen
        if listen:
            return int(listen.rpartition(":")[2])
        return super().listen_port()

    def admin_url(self) -> str:
        if self._admin is None:
            raise CapabilityMissingError(
                f"the profile gives no administrator DSN for {self.name}",
                enable=f"remote.services.{self.name}.admin_secret",
            )
        return self._admin()

    def base_url(self) -> str:
        if self._url is None:
            raise CapabilityMissingError(
                f"the remote backend cannot reach {self.name} directly",
                enable=f"services.{self.name}.remote.url",
            )
        return self._url

    def _needs_runtime(self) -> Runtime:
        if self._runtime is None:
            raise CapabilityMissingError(
                f"the profile does not say how {self.name} runs on the host",
                enable=f"remote.services.{self.name}",
            )
        return self._runtime

    def _controlled(self) -> Runtime:
        runtime = self._needs_runtime()
        if not runtime.settings.control:
            raise CapabilityMissingError(
                f"the profile does not allow stackproof to control {self.name} on the host",
                enable=f"remote.services.{self.name}.control = true",
            )
        return runtime

    def identity(self) -> str | None:
        return None if self._runtime is None else self._runtime.identity()

    def workdir(self) -> str | None:
        return None if self._runtime is None else self._runtime.workdir()

    def logs(self) -> str:
        return self._needs_runtime().logs()

    def exec(
        self, argv: Sequence[str], timeout_s: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """`argv` beside the service: on its host (a unit, a process) or in its container."""
        runtime = self._needs_runtime()
        if runtime.runtime == "container":
            argv = ["docker", "exec", runtime.target, *argv]
        done = runtime.host.run(shlex.join(argv))
        return subprocess.CompletedProcess(list(argv), done.exit_status, done.stdout, done.stderr)

    def start(self, wait: bool = True) -> None:
        runtime = self._controlled()
        before = runtime.identity()
        runtime.control("start")
        if wait and before is None:
            self._await(runtime, None, running=True)

    def stop(self) -> None:
        runtime = self._controlled()
        runtime.control("stop")
        self._await(runtime, None, running=False)

    def restart(self) -> None:
        runtime = self._controlled()
        before = runtime.identity()
        runtime.control("restart")
        self._await(runtime, before, running=True)

    def kill(self) -> None:
        self._controlled().control("kill")

    def destroy(self) -> None:
        """Kill the service, then wipe its state with the host's own command (`wipe`): the
        next `start` (the unit's own provisioning) begins from nothing, as after a lost disk."""
        runtime = self._controlled()
        wipe = runtime.settings.wipe
        if wipe is None:
            raise CapabilityMissingError(
                f"the profile names no command that wipes {self.name}'s state on the host",
                enable=f"remote.services.{self.name}.wipe = [<the host's own wipe command>]",
            )
        runtime.control("kill")
        runtime.control("stop")  # a unit's `Restart=` would bring the killed server back
        self._await(runtime, None, running=False)
        done = runtime.host.run(shlex.join(wipe))
        if not done.ok:
            raise PreconditionError(
                f"wiping {self.name}'s state on the host failed ({done.describe()}): "
                f"remote.services.{self.name}.wipe"
            )

    def pause(self) -> None:
        self._controlled().control("pause")

    def resume(self) -> None:
        self._controlled().control("resume")

    @staticmethod
    def _await(runtime: Runtime, before: str | None, *, running: bool) -> None:
        wait_for(
            _Identity(runtime, before, running),
            timeout_s=CONTROL_TIMEOUT_S,
            what=f"{runtime.name} on {runtime.host.target.login}",
            interval_s=0.2,
        )


class StagingHost:
    """`HostAccess` of a stack on a staging host: the SSH host and its services' runtimes."""

    def __init__(self, host: SshHost, runtimes: Mapping[str, Runtime]) -> None:
        self._host = host
        self._runtimes = dict(runtimes)

    @property
    def name(self) -> str:
        return self._host.target.login

    @property
    def testinfra(self) -> Any:
        return self._host.testinfra

    def run(self, command: str, *args: str) -> CommandRun:
        return self._host.run(command, *args)

    def root(self, argv: Sequence[str]) -> CommandRun:
        return self._host.root(argv)

    def forward(self, host: str, port: int) -> AbstractContextManager[Endpoint]:
        return self._host.forward(host, port)

    def services(self) -> Mapping[str, HostedService]:
        return self._runtimes
