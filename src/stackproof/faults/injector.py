"""Every fault a test can inject into one stack, each a context manager that undoes itself.

    faults = StackFaults(stack)
    with faults.latency("bot-postgres", 500):   # network: a toxic on the link's proxy
        ...
    with faults.down("bot-redis"):              # the link refuses connections
        ...
    with faults.paused("bot"):                  # process: SIGSTOP, SIGCONT afterwards
        ...
    with faults.partitioned("postgres"):        # iptables: the service cut off
        ...

Links are named `source-target` (`faults.links()` lists them). The undo runs in `finally`,
so it runs after a failed assertion and after Ctrl-C; a fault on several links at once
(`on_links`) undoes every link it reached.

Whatever the backend, the stack offers its links as a `FaultNetwork` (a Toxiproxy-API server
the harness reaches by URL) and its partitions as `Partitions`; this module speaks only
those protocols and the Toxiproxy API, so every backend gets every fault it can carry.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack

from stackproof.backends.base import FaultNetwork, Partitions, Stack
from stackproof.backends.values import LinkProxy, link_name
from stackproof.errors import CapabilityMissingError
from stackproof.toxiproxy import ProxyInfo, ToxicInfo, ToxiproxyClient
from stackproof.toxiproxy.schema import Stream

LinkFault = Callable[[str], AbstractContextManager[object]]


class LinksUnavailableError(CapabilityMissingError):
    """The stack's links do not run through a fault proxy; the message says why."""


class PartitionUnavailableError(CapabilityMissingError):
    """Partitions cannot be made on this stack; the message says why."""


class StackFaults:
    """The faults of one stack. `close` ends its connection to the fault proxy's API."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._serial = itertools.count(1)
        self._client: ToxiproxyClient | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- what can be faulted ---

    @property
    def network(self) -> FaultNetwork:
        network = self.stack.network
        if network is None:
            raise LinksUnavailableError(
                self.links_unavailable() or "no fault proxy",
                enable="faults.proxy_links = true, on a backend that runs a fault proxy",
            )
        return network

    @property
    def client(self) -> ToxiproxyClient:
        """A client of the stack's Toxiproxy-API server."""
        if self._client is None:
            self._client = ToxiproxyClient(self.network.url)
        return self._client

    def links_unavailable(self) -> str | None:
        """Why this stack's links cannot be faulted, or None when they can."""
        if self.stack.network is not None:
            return None
        if not self.stack.profile.faults.proxy_links:
            return "the profile sets faults.proxy_links = false"
        return f"{type(self.stack).__name__} does not run links through a fault proxy"

    def partitions_unavailable(self) -> str | None:
        if self.stack.partitions is None:
            return f"{type(self.stack).__name__} cannot partition services"
        return self.stack.partitions.unavailable()

    def links(self) -> list[str]:
        return sorted(self.network.links)

    def link(self, source: str, target: str) -> str:
        return self.network.link(link_name(source, target)).name

    def links_to(self, target: str) -> list[str]:
        return sorted(n for n, link in self.network.links.items() if link.target == target)

    def links_from(self, source: str) -> list[str]:
        return sorted(n for n, link in self.network.links.items() if link.source == source)

    def proxy(self, link: str) -> LinkProxy:
        return self.network.link(link)

    # --- network faults on one link ---

    def toxic(
        self,
        link: str,
        type: str,
        attributes: Mapping[str, int] | None = None,
        *,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
    ) -> AbstractContextManager[ToxicInfo]:
        """Any toxic of the Toxiproxy API on `link`; named uniquely, so toxics can stack."""
        proxy = self.network.link(link).proxy
        name = f"stackproof_{type}_{stream}_{next(self._serial)}"
        return self.client.toxic(
            proxy, type, attributes=attributes, stream=stream, toxicity=toxicity, name=name
        )

    def latency(
        self, link: str, ms: int, *, jitter_ms: int = 0, stream: Stream = "downstream"
    ) -> AbstractContextManager[ToxicInfo]:
        return self.toxic(link, "latency", {"latency": ms, "jitter": jitter_ms}, stream=stream)

    def down(self, link: str) -> AbstractContextManager[ProxyInfo]:
        """The link refuses connections and its open connections are cut."""
        return self.client.disabled(self.network.link(link).proxy)

    def timeout(
        self, link: str, ms: int = 0, *, stream: Stream = "downstream"
    ) -> AbstractContextManager[ToxicInfo]:
        """A black hole: data stops; after `ms` the connection closes (0: held until removed)."""
        return self.toxic(link, "timeout", {"timeout": ms}, stream=stream)

    def reset_peer(
        self, link: str, ms: int = 0, *, stream: Stream = "downstream"
    ) -> AbstractContextManager[ToxicInfo]:
        """Connections are reset (RST) after `ms`."""
        return self.toxic(link, "reset_peer", {"timeout": ms}, stream=stream)

    def bandwidth(
        self, link: str, kb_s: int, *, stream: Stream = "downstream"
    ) -> AbstractContextManager[ToxicInfo]:
        return self.toxic(link, "bandwidth", {"rate": kb_s}, stream=stream)

    def slow_close(
        self, link: str, ms: int, *, stream: Stream = "downstream"
    ) -> AbstractContextManager[ToxicInfo]:
        return self.toxic(link, "slow_close", {"delay": ms}, stream=stream)

    def slicer(
        self,
        link: str,
        average_size: int,
        size_variation: int = 0,
        delay_us: int = 0,
        *,
        stream: Stream = "downstream",
    ) -> AbstractContextManager[ToxicInfo]:
        attributes = {
            "average_size": average_size,
            "size_variation": size_variation,
            "delay": delay_us,
        }
        return self.toxic(link, "slicer", attributes, stream=stream)

    def limit_data(
        self, link: str, bytes_: int, *, stream: Stream = "downstream"
    ) -> AbstractContextManager[ToxicInfo]:
        """The connection closes once `bytes_` have passed."""
        return self.toxic(link, "limit_data", {"bytes": bytes_}, stream=stream)

    @contextlib.contextmanager
    def on_links(self, links: Sequence[str], fault: LinkFault) -> Iterator[None]:
        """The same fault on several links at once, e.g. every link into postgres."""
        with ExitStack() as scope:
            for link in links:
                scope.enter_context(fault(link))
            yield

    # --- process faults ---

    @contextlib.contextmanager
    def paused(self, service: str) -> Iterator[None]:
        """SIGSTOP for the block, SIGCONT afterwards."""
        control = self.stack.service(service)
        control.pause()
        try:
            yield
        finally:
            control.resume()

    @contextlib.contextmanager
    def killed(self, service: str) -> Iterator[str | None]:
        """SIGKILL; yields the killed service's identity. Afterwards the service is started
        again unless its supervisor (or anything else) has done so, and awaited until ready."""
        control = self.stack.service(service)
        killed = control.identity()
        control.kill()
        try:
            yield killed
        finally:
            control.start()

    @contextlib.contextmanager
    def stopped(self, service: str) -> Iterator[None]:
        control = self.stack.service(service)
        control.stop()
        try:
            yield
        finally:
            control.start()

    # --- partitions ---

    def partitioned(self, service: str) -> AbstractContextManager[None]:
        """`service` cut off from every other service and the harness."""
        partitions: Partitions | None = self.stack.partitions
        reason = self.partitions_unavailable()
        if partitions is None or reason is not None:
            raise PartitionUnavailableError(
                reason or "no partitions", enable="root and iptables, on the process backend"
            )
        return partitions.isolated(service)
