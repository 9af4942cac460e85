"""A proxy: a listener, the links it accepted, and a toxic chain per stream (`proxy.go`)."""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import socket
from dataclasses import dataclass
from typing import Final

from stackproof.toxiproxy.addresses import ListenAddress
from stackproof.toxiproxy.errors import TOXIC_NOT_FOUND
from stackproof.toxiproxy.link import Link
from stackproof.toxiproxy.sockets import bind_listener, dial, tune
from stackproof.toxiproxy.toxics import STREAMS, Stream, Toxic, parse_toxic

log = logging.getLogger(__name__)

ACCEPT_BATCH: Final = 64  # connections accepted per readiness callback


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    """What the API asked for: the fields of Toxiproxy's Proxy, listen already resolved."""

    name: str
    listen: ListenAddress
    upstream: str
    enabled: bool = True


class Proxy:
    """Accepts on `listen`, dials `upstream` for each client, relays through the toxics."""

    def __init__(self, config: ProxyConfig, rng: random.Random) -> None:
        self.name = config.name
        self.listen = config.listen
        self.upstream = config.upstream
        self.enabled = False
        self.chains: dict[Stream, list[Toxic]] = {stream: [] for stream in STREAMS}
        self._rng = rng
        self._seq = itertools.count()
        self._listener: socket.socket | None = None
        self._links: set[Link] = set()
        self._dialing: set[asyncio.Task[None]] = set()

    # -- state ----------------------------------------------------------------------------

    def start(self, listener: socket.socket | None = None) -> None:
        """Listen (on `listener` if one was bound ahead); `listen` then has the real port."""
        if self.enabled:
            if listener is not None:
                listener.close()
            return
        sock = listener if listener is not None else bind_listener(self.listen)
        self.listen = self.listen.with_port(sock.getsockname()[1])
        self._listener = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._on_acceptable)
        self.enabled = True
        log.info("proxy %s listening on %s for %s", self.name, self.listen, self.upstream)

    def stop(self) -> None:
        """Stop accepting and close every connection, as Toxiproxy does when disabled."""
        if not self.enabled:
            return
        self.enabled = False
        if self._listener is not None:
            asyncio.get_running_loop().remove_reader(self._listener.fileno())
            self._listener.close()
            self._listener = None
        for task in list(self._dialing):
            task.cancel()
        for link in list(self._links):
            link.close()
        log.info("proxy %s stopped", self.name)

    def update(self, listen: ListenAddress, upstream: str, enabled: bool) -> None:
        """Toxiproxy's `Proxy.Update`: a new address restarts the proxy, dropping its links."""
        if listen != self.listen or upstream != self.upstream:
            self.stop()
            self.listen, self.upstream = listen, upstream
        if enabled:
            self.start()
        else:
            self.stop()

    def differs(self, config: ProxyConfig) -> bool:
        """Whether populate must replace this proxy. A requested port of 0 matches any port,
        so populating with `127.0.0.1:0` twice keeps the proxy (Toxiproxy would replace it)."""
        wanted = config.listen
        same_host = (wanted.family, wanted.ip) == (self.listen.family, self.listen.ip)
        same_port = wanted.port in (0, self.listen.port)
        return not (same_host and same_port and config.upstream == self.upstream)

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "listen": str(self.listen),
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.to_json() for toxic in self.toxics()],
        }

    # -- toxics ---------------------------------------------------------------------------

    def toxics(self) -> list[Toxic]:
        """Upstream chain, then downstream chain, each in order (Toxiproxy's listing)."""
        return [toxic for stream in STREAMS for toxic in self.chains[stream]]

    def toxic(self, name: str) -> Toxic:
        found = next((t for t in self.toxics() if t.name == name), None)
        if found is None:
            raise TOXIC_NOT_FOUND
        return found

    def add_toxic(self, body: object) -> Toxic:
        toxic = parse_toxic(body, seq=next(self._seq), taken=self._has_toxic)
        self.chains[toxic.stream].append(toxic)
        self._changed(toxic.stream)
        return toxic

    def update_toxic(self, name: str, body: object) -> Toxic:
        toxic = self.toxic(name)
        toxic.apply_update(body)
        self._changed(toxic.stream)
        return toxic

    def remove_toxic(self, name: str) -> None:
        toxic = self.toxic(name)
        self.chains[toxic.stream].remove(toxic)
        self._changed(toxic.stream)

    def reset_toxics(self) -> None:
        for stream in STREAMS:
            if self.chains[stream]:
                self.chains[stream].clear()
                self._changed(stream)

    def _has_toxic(self, name: str) -> bool:
        return any(t.name == name for t in self.toxics())

    def _changed(self, stream: Stream) -> None:
        for link in list(self._links):
            link.toxics_changed(stream)

    # -- connections ----------------------------------------------------------------------

    def _on_acceptable(self) -> None:
        if self._listener is None:
            return
        loop = asyncio.get_running_loop()
        for _ in range(ACCEPT_BATCH):
            try:
                client, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as error:  # out of descriptors, say: keep the listener, log it
                log.warning("proxy %s: accept failed: %s", self.name, error)
                return
            task = loop.create_task(self._open_link(client))
            self._dialing.add(task)
            task.add_done_callback(self._dialing.discard)

    async def _open_link(self, client: socket.socket) -> None:
        try:
            tune(client)
            upstream = await dial(self.upstream)
        except OSError as error:
            log.warning("proxy %s: cannot reach upstream %s: %s", self.name, self.upstream, error)
            client.close()
            return
        except BaseException:
            client.close()
            raise
        link = Link(client, upstream, self.chains, self._rng, self._links.discard)
        self._links.add(link)
        link.start()
