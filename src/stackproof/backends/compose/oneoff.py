"""A service started once beside its stack, with its environment changed: `compose run`.

For the checks that start a (stopped) service without a setting (R-AUTH-2, R-RED-2): a
one-off container of the service (`compose run --rm --no-deps`, the override's labels on
it, its ports published as the service's), its command wrapped in `env -u NAME -- NAME=value`
after the image's own entrypoint ran, so a setting that entrypoint puts in the environment
(the reference images' secrets) is changed too. It ends on its own, or is killed.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stackproof.backends.values import TrialStart
from stackproof.errors import CapabilityMissingError, ServiceStartError
from stackproof.readiness import wait_for

if TYPE_CHECKING:
    from stackproof.backends.compose.control import ComposeServiceControl
    from stackproof.backends.compose.stack import ComposeStack

KILL_TIMEOUT_S = 30.0


def changed_command(command: Sequence[str], env: Mapping[str, str | None]) -> list[str]:
    """`env -u A -- B=value command`: A removed, B set, whatever the entrypoint exported.
    (`--` ends env's options; after an assignment it would be taken for the command.)"""
    unset = [part for name, value in env.items() if value is None for part in ("-u", name)]
    assigned = [f"{name}={value}" for name, value in env.items() if value is not None]
    return ["env", *unset, "--", *assigned, *command]


class OneOff:
    def __init__(self, stack: ComposeStack, service: ComposeServiceControl, log: Path) -> None:
        self._stack = stack
        self._service = service
        self.log = log
        self.name = f"{stack.project.name}-{service.compose_name}-once-{secrets.token_hex(3)}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str | None]) -> None:
        command = self._stack.service_command(self._service.compose_name)
        argv = self._stack.project.argv(
            "run", "--rm", "--no-deps", "-T", "--service-ports", "--name", self.name,
            self._service.compose_name, *changed_command(command, env),
        )  # fmt: skip
        with self.log.open("wb") as output:
            self._process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT)
        self._stack.run.record("one_off", stack=self._stack.label, container=self.name)

    def exit_code(self) -> int | None:
        assert self._process is not None
        return self._process.poll()

    def exited_reason(self) -> str | None:
        code = self.exit_code()
        return None if code is None else f"it exited with code {code}"

    def wait(self, timeout_s: float) -> int | None:
        assert self._process is not None
        try:
            return self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        docker_cli = shutil.which("docker")
        if docker_cli is not None:
            subprocess.run(
                [docker_cli, "kill", self.name], capture_output=True, timeout=30, check=False
            )
        if self.wait(KILL_TIMEOUT_S) is None and self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
        with contextlib.suppress(Exception):
            self._stack.client.containers.get(self.name).remove(force=True)

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""


def trial_start(
    stack: ComposeStack,
    service: ComposeServiceControl,
    env: Mapping[str, str | None],
    timeout_s: float,
    while_ready: Callable[[], None] | None,
) -> TrialStart:
    if service.identity() is not None:
        raise ServiceStartError(f"{service.name} is running: stop it before a trial start")
    once = OneOff(stack, service, stack.scratch(f"{service.name}-trial-{time.monotonic_ns()}.log"))
    once.start(env)
    code: int | None = None
    try:
        wait_for(
            stack.proof(service.name),
            timeout_s=timeout_s,
            what=f"{service.name} (trial start)",
            give_up=once.exited_reason,
            interval_s=0.2,
        )
        if while_ready is not None:
            while_ready()
    except ServiceStartError:
        code = once.exit_code()
    finally:
        if once.exit_code() is None:
            once.kill()
    return TrialStart(code, once.output())


def run_once(
    stack: ComposeStack,
    service: ComposeServiceControl,
    without_env: Sequence[str],
    timeout_s: float,
) -> tuple[int | None, str]:
    if service.identity() is not None:
        raise CapabilityMissingError(
            f"{service.name} is running; stop it before running it by hand"
        )
    once = OneOff(stack, service, stack.scratch(f"{service.name}-once-{time.monotonic_ns()}.log"))
    once.start(dict.fromkeys(without_env))
    code = once.wait(timeout_s)
    if code is None:
        once.kill()
    return code, once.output()
