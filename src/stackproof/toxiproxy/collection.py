"""The set of proxies by name: add, replace in bulk (populate), remove, reset."""

from __future__ import annotations

import random
import socket
from collections.abc import Sequence
from dataclasses import dataclass

from stackproof.toxiproxy.errors import (
    BAD_REQUEST_BODY,
    PROXY_ALREADY_EXISTS,
    PROXY_NOT_FOUND,
    server_error,
)
from stackproof.toxiproxy.proxy import Proxy, ProxyConfig
from stackproof.toxiproxy.sockets import bind_listener


@dataclass(slots=True)
class _Planned:
    config: ProxyConfig
    existing: Proxy | None
    keep: bool
    listener: socket.socket | None = None


class ProxyCollection:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._proxies: dict[str, Proxy] = {}

    def all(self) -> dict[str, Proxy]:
        return dict(self._proxies)

    def get(self, name: str) -> Proxy:
        try:
            return self._proxies[name]
        except KeyError:
            raise PROXY_NOT_FOUND from None

    def add(self, config: ProxyConfig) -> Proxy:
        if config.name in self._proxies:
            raise PROXY_ALREADY_EXISTS
        proxy = Proxy(config, self._rng)
        if config.enabled:
            try:
                proxy.start()
            except OSError as error:
                raise server_error(error) from None
        self._proxies[config.name] = proxy
        return proxy

    def remove(self, name: str) -> None:
        self.get(name).stop()
        del self._proxies[name]

    def populate(self, configs: Sequence[ProxyConfig]) -> list[Proxy]:
        """Create or replace proxies; one whose addresses are unchanged is kept as it is.

        All-or-nothing like Toxiproxy's newer `PopulateJson`: every new listener is bound
        before anything changes, except one that reuses the address of the proxy it
        replaces, which can only be bound once that proxy has stopped.
        """
        names = [config.name for config in configs]
        if len(set(names)) != len(names):
            raise BAD_REQUEST_BODY.joined("duplicate proxy name in populate request")
        plan = []
        for config in configs:
            existing = self._proxies.get(config.name)
            keep = existing is not None and not existing.differs(config)
            plan.append(_Planned(config, existing, keep))
        try:
            for item in plan:
                if not item.keep and item.config.enabled and not _reuses_address(item):
                    item.listener = bind_listener(item.config.listen)
        except OSError as error:
            for item in plan:
                if item.listener is not None:
                    item.listener.close()
            raise server_error(error) from None
        result = []
        for item in plan:
            if item.keep and item.existing is not None:
                result.append(item.existing)
                continue
            if item.existing is not None:
                item.existing.stop()
                del self._proxies[item.config.name]
            proxy = Proxy(item.config, self._rng)
            if item.config.enabled:
                try:
                    proxy.start(item.listener)
                except OSError as error:
                    raise server_error(error) from None
            self._proxies[item.config.name] = proxy
            result.append(proxy)
        return result

    def reset(self) -> None:
        """Enable every proxy and remove every toxic (`POST /reset`)."""
        for proxy in self._proxies.values():
            try:
                proxy.start()
            except OSError as error:
                raise server_error(error) from None
            proxy.reset_toxics()

    def close(self) -> None:
        for proxy in self._proxies.values():
            proxy.stop()
        self._proxies.clear()


def _reuses_address(item: _Planned) -> bool:
    existing = item.existing
    return existing is not None and existing.enabled and existing.listen == item.config.listen
