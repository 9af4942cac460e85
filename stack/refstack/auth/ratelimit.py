"""A per-client rate limit: at most `limit` requests in any `window_s` seconds (R-RL-1, 2).

The client is the address nginx saw: nginx overwrites `X-Real-IP` with `$remote_addr`, and
the header is believed only from a trusted proxy (loopback), so a client cannot pick its own
key by sending one. A sliding log of request times per client makes "the 61st request within
60 s" exact. Health paths are exempt: a monitor must never be refused.
"""

from __future__ import annotations

import collections
import json
import math
import time
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from refstack.common.logs import current_request_id

TRUSTED_PROXIES = frozenset({"127.0.0.1", "::1"})
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


def client_address(scope: Scope) -> str:
    peer = scope.get("client")
    host = peer[0] if peer else "unknown"
    if host in TRUSTED_PROXIES:
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

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        wait_s = self.window.take(client_address(scope), time.monotonic())
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
