"""An application service: the command, environment and setup steps the profile gives it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from stackproof.backends.process.service import ProcessService, ServiceContext
from stackproof.backends.values import Endpoint
from stackproof.errors import ProfileError
from stackproof.procs import ProcessSpec
from stackproof.readiness import Condition, HttpStatus, TcpPort


class AppService(ProcessService):
    def __init__(self, context: ServiceContext) -> None:
        super().__init__(context)
        if context.spec.process.command is None:
            raise ProfileError(
                f"services.{context.name}.process.command: an app service needs a command "
                "to run on the process backend"
            )

    def _env(self) -> dict[str, str]:
        settings = self.context.spec.process
        return {
            key: self.context.render(value, f"process.env.{key}")
            for key, value in settings.env.items()
        }

    def _argv(self, argv: Sequence[str], key: str) -> list[str]:
        return [self.context.render(part, key) for part in argv]

    def _with_cwd(self, spec: ProcessSpec) -> ProcessSpec:
        cwd = self.context.render(self.context.spec.process.cwd, "process.cwd")
        return replace(spec, cwd=self.context.stack_root / cwd)

    def prepare(self) -> Sequence[ProcessSpec]:
        self.context.state_dir.mkdir(parents=True, exist_ok=True)
        env = self._env()
        return [
            self._with_cwd(
                self.context.process_spec(
                    self._argv(step, f"process.setup[{index}]"), env, label=f".setup{index}"
                )
            )
            for index, step in enumerate(self.context.spec.process.setup)
        ]

    def command(self) -> ProcessSpec:
        command = self.context.spec.process.command
        assert command is not None  # checked in __init__
        return self._with_cwd(
            self.context.process_spec(self._argv(command, "process.command"), self._env())
        )

    def readiness(self) -> Condition:
        health = self.context.spec.health
        path = health.readiness or health.liveness
        endpoint = self.context.endpoint()
        if path is None:
            return TcpPort(endpoint.host, endpoint.port)
        return HttpStatus(endpoint.url(path=path), verify=False)

    def link_facts(self, endpoint: Endpoint) -> dict[str, str]:
        return {
            "url": endpoint.url(),
            "host": endpoint.host,
            "port": str(endpoint.port),
            "address": endpoint.address,
        }

    def exec_env(self) -> dict[str, str]:
        return {**super().exec_env(), **self._env()}
