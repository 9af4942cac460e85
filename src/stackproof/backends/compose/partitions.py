"""Partitions of a compose stack: the service's container disconnected from its networks.

`docker network disconnect` cuts a container off every other container of the project (and
the fault proxy) at once: connections in flight die with their route, new ones fail to
resolve or to route. The harness's own way in, the published ports, goes through the same
networks, so a partitioned service does not answer the harness either, as on the process
backend. On leaving, the container is connected again with the aliases it had.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import docker.errors

from stackproof.signals import deferred_interrupts

if TYPE_CHECKING:
    from stackproof.backends.compose.stack import ComposeStack


class NetworkPartitions:
    def __init__(self, stack: ComposeStack) -> None:
        self._stack = stack

    def unavailable(self) -> str | None:
        return None

    @contextmanager
    def isolated(self, service: str) -> Iterator[None]:
        container = self._stack.service(service).container()
        container.reload()
        attached: dict[str, dict[str, Any]] = dict(container.attrs["NetworkSettings"]["Networks"])
        networks = {name: self._stack.client.networks.get(name) for name in attached}
        self._stack.run.record(
            "partition", stack=self._stack.label, service=service, networks=sorted(attached)
        )
        try:
            with deferred_interrupts():
                for network in networks.values():
                    network.disconnect(container, force=True)
            yield
        finally:
            with deferred_interrupts():
                for name, network in networks.items():
                    aliases = [
                        a for a in (attached[name].get("Aliases") or [])
                        if not str(container.id).startswith(a)
                    ]  # fmt: skip
                    try:
                        network.connect(container, aliases=aliases)
                    except docker.errors.APIError as error:
                        if "already exists" not in str(error):
                            raise
            self._stack.run.record("partition_removed", stack=self._stack.label, service=service)
