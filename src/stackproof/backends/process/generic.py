"""A generic service: the command, setup, ports and readiness the profile gives it.

Unlike an app, it usually is a server someone else wrote (RabbitMQ, MariaDB), many of which
refuse to run as root: when stackproof is root, it and its setup steps run as the unprivileged
user (`generic.unprivileged`), and its state folder (`{{ dir.state }}`) is theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from stackproof.backends.process.app import AppService
from stackproof.backends.values import Endpoint
from stackproof.procs import UNPRIVILEGED_UID, ProcessSpec, is_root
from stackproof.readiness import CommandSucceeds, Condition, HttpStatus, TcpPort


class GenericService(AppService):
    LINK_FACTS = ("url", "host", "port", "address")

    def _drop_root(self, spec: ProcessSpec) -> ProcessSpec:
        if is_root() and self.context.spec.generic_settings.unprivileged:
            return replace(spec, run_as_uid=UNPRIVILEGED_UID)
        return spec

    def prepare(self) -> Sequence[ProcessSpec]:
        self.owned_state_dir()
        return [self._drop_root(step) for step in super().prepare()]

    def command(self) -> ProcessSpec:
        self.owned_state_dir()  # made anew after a wiped state
        return self._drop_root(super().command())

    def readiness(self) -> Condition:
        ready = self.context.spec.generic_settings.ready
        if ready is None or ready.tcp is not None:
            endpoint = self.context.endpoint(None if ready is None else ready.tcp)
            return TcpPort(endpoint.host, endpoint.port)
        if ready.http is not None:
            return HttpStatus(
                self.context.endpoint(ready.port).url(path=ready.http),
                statuses=frozenset({ready.status}),
                verify=False,
            )
        assert ready.command is not None  # GenericReadiness demands one of the three
        argv = self._argv(ready.command, "generic.ready.command")
        return CommandSucceeds(argv, env=self.exec_env(), timeout_s=ready.timeout_s)

    def link_facts(self, endpoint: Endpoint) -> dict[str, str]:
        scheme = self.context.spec.generic_settings.scheme
        return {
            "url": f"{scheme}://{endpoint.address}",
            "host": endpoint.host,
            "port": str(endpoint.port),
            "address": endpoint.address,
        }
