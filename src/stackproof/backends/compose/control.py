"""One service of a compose stack: its container, reached and controlled through the engine.

`kill` SIGKILLs the container's main process as a crash would (the stack's own restart
policy then applies: R-RES-5; `docker kill` would count as a stop asked for); `identity`
is the container's ID and start time; `exec` is `docker exec`, with what the image's
entrypoint puts in the environment; trial starts and run-once are one-off containers
(`oneoff.py`).
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import docker.errors
from docker.models.containers import Container

from stackproof.backends.base import ServiceControl
from stackproof.backends.compose import oneoff
from stackproof.backends.values import Endpoint, TrialStart
from stackproof.errors import CapabilityMissingError

if TYPE_CHECKING:
    from stackproof.backends.compose.stack import ComposeStack

LOG_TAIL_LINES = 30
READY_TIMEOUT_S = 60.0


class ComposeServiceControl(ServiceControl):
    """One service of the profile: a compose service's container."""

    def __init__(self, stack: ComposeStack, name: str) -> None:
        super().__init__(name, stack.profile.services[name].kind)
        self._stack = stack
        self.compose_name = stack.settings.compose_name(name)

    # --- where it is ---

    def endpoint(self, port: str | None = None) -> Endpoint:
        spec = self._stack.profile.services[self.name]
        wanted = port or spec.primary_port
        if wanted not in spec.ports:
            raise KeyError(f"service {self.name} has no port {wanted!r} (it has {spec.ports})")
        return self._stack.published(self.name, wanted)

    def container(self) -> Container:
        return self._stack.container(self.compose_name)

    def _state(self) -> dict[str, Any]:
        container = self.container()
        container.reload()
        state: dict[str, Any] = container.attrs["State"]
        return state

    def identity(self) -> str | None:
        """The container's ID and when its main process started: a restart (Docker's policy,
        `docker restart`, a recreation) changes it, a pause does not."""
        try:
            container = self.container()
        except LookupError:
            return None
        state = container.attrs["State"]
        if not state.get("Running") or state.get("Restarting"):
            return None
        return f"container {str(container.id)[:12]} started {state['StartedAt']}"

    def restart_record(self) -> list[dict[str, Any]]:
        try:
            container = self.container()
        except LookupError:
            return []
        state = container.attrs["State"]
        return [
            {
                "restart_policy": container.attrs["HostConfig"]["RestartPolicy"]["Name"],
                "restart_count": container.attrs.get("RestartCount", 0),
                "started_at": state.get("StartedAt"),
                "last_exit_code": state.get("ExitCode"),
            }
        ]

    # --- control ---

    def start(self, wait: bool = True) -> None:
        self._stack.start_service(self.name, wait=wait)

    def stop(self) -> None:
        self._stack.stop_service(self.name)

    def kill(self) -> None:
        """SIGKILL the container's main process, as a crash would: Docker's restart policy
        (the stack's, R-RES-5) applies. (`docker kill` would count as a stop asked for.)"""
        self._stack.kill_service(self.name)

    def pause(self) -> None:
        self.container().pause()

    def resume(self) -> None:
        self.container().unpause()

    def restart(self) -> None:
        self.stop()
        self.start()

    def exec(
        self, argv: Sequence[str], timeout_s: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """`docker exec` in the service's container (with its secrets in the environment,
        as its own command has them), with a deadline."""
        container = self.container()
        command = [*self._stack.exec_prefix(self.name), *argv]
        env = self._stack.exec_env(self.name)
        docker_cli = shutil.which("docker")
        if docker_cli is None:
            raise CapabilityMissingError(
                "exec on the compose backend needs the docker CLI", enable="install docker.io"
            )
        flags = [f"--env={k}={v}" for k, v in env.items()]
        return subprocess.run(
            [docker_cli, "exec", *flags, str(container.id), *command],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def logs(self) -> str:
        try:
            raw: bytes = self.container().logs(stdout=True, stderr=True)
        except LookupError:
            return ""
        return raw.decode("utf-8", errors="replace")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            raw: bytes = self.container().logs(stdout=True, stderr=True, tail=lines)
        except (LookupError, docker.errors.APIError):
            return ""
        return raw.decode("utf-8", errors="replace")

    def trial_start(
        self,
        env: Mapping[str, str | None],
        timeout_s: float | None = None,
        while_ready: Callable[[], None] | None = None,
    ) -> TrialStart:
        """A one-off container of the service with `env` changed (`oneoff.py`)."""
        return oneoff.trial_start(self._stack, self, env, timeout_s or READY_TIMEOUT_S, while_ready)

    def run_once(self, *, without_env: Sequence[str], timeout_s: float) -> tuple[int | None, str]:
        return oneoff.run_once(self._stack, self, without_env, timeout_s)

    def admin_url(self) -> str:
        return self._stack.url_of(self.name, "admin_url")

    def connection_url(self) -> str:
        return self._stack.url_of(self.name, "connection_url")
