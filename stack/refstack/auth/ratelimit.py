"""A per-client rate limit: at most `limit` requests in any `window_s` seconds (R-RL-1, 2).

The client is the address nginx saw: nginx overwrites `X-Real-IP` with `$remote_addr`, and
the header is believed only from a trusted proxy, so a client cannot pick its own key by
sending one. The trusted proxies are loopback (nginx on the same host), or what
`TRUSTED_PROXIES` names: addresses, networks and host names, comma-separated (in containers,
`nginx`: the front's container, whose address only the network's DNS knows; a name is
resolved again, at most every few seconds, when a peer it does not match arrives). A sliding
log of request times per client makes "the 61st request within 60 s" exact. Health paths are
exempt: a monitor must never be refused.
"""

from __future__ import annotations

import collections
import ipaddress
import json
import math
import os
import socket
import threading
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from refstack.common.logs import current_request_id

LOOPBACK_PROXIES = ("127.0.0.1", "::1")
TRUSTED_PROXIES_ENV = "TRUSTED_PROXIES"
RESOLVE_EVERY_S = 5.0
MAX_CLIENTS = 100_000  # bounds the memory a flood of addresses can take


class SlidingWindow:
    def __init__(self, limit: int, window_s: float) -> None:
        self.limit = limit
        self.window_s = window_s
        self._seen: dict[str, collections.deque[float]] = {}

    def take(self, client: str, now: float) -> float | None:
        """None if the request may pass, else the seconds until a slot frees."""
        times = self._seen.get(client)
        if times is None:
            if len(self._seen) >= MAX_CLIENTS:
                self._seen.pop(next(iter(self._seen)))
            times = self._seen[client] = collections.deque()
        while times and now - times[0] >= self.window_s:
            times.popleft()
        if len(times) >= self.limit:
            return self.window_s - (now - times[0])
        times.append(now)
        return None


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """Peers whose X-Real-IP is believed: addresses, networks, and names (resolved lazily)."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: list[Network] = []
        self.names: list[str] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.append(entry)
        self._resolved: frozenset[str] = frozenset()
        self._resolved_at = -RESOLVE_EVERY_S
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> TrustedProxies:
        configured = os.environ.get(TRUSTED_PROXIES_ENV)
        return cls(configured.split(",") if configured else LOOPBACK_PROXIES)

    def _addresses_of_names(self, now: float) -> frozenset[str]:
        with self._lock:
            if now - self._resolved_at >= RESOLVE_EVERY_S:
                found: set[str] = set()
                for name in self.names:
                    try:
                        found.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
                    except OSError:
                        continue  # not up yet: asked again at the next untrusted peer
                self._resolved, self._resolved_at = frozenset(found), now
            return self._resolved

    def trusts(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if any(address in network for network in self.networks):
            return True
        if not self.names:
            return False
        if host in self._resolved:
            return True
        return host in self._addresses_of_names(time.monotonic())


def client_address(scope: Scope, trusted: TrustedProxies | None = None) -> str:
    peer = scope.get("client")
    host = peer[0] if peer else "unknown"
    if (trusted or TrustedProxies(LOOPBACK_PROXIES)).trusts(host):
        for name, value in scope.get("headers", []):
            if name == b"x-real-ip":
                return str(value.decode("latin-1").strip())
    return str(host)


class RateLimitMiddleware:
    def __init__(
        self, app: ASGIApp, *, limit: int, window_s: float, exempt_paths: Iterable[str]
    ) -> None:
        self.app = app
        self.window = SlidingWindow(limit, window_s)
        self.exempt = frozenset(exempt_paths)
        self.trusted = TrustedProxies.from_env()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        wait_s = self.window.take(client_address(scope, self.trusted), time.monotonic())
        if wait_s is None:
            await self.app(scope, receive, send)
            return
        body = json.dumps(
            {"error": "too many requests", "request_id": current_request_id.get()}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(max(1, math.ceil(wait_s))).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
