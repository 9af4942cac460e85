"""Request IDs: taken from the front (nginx sets X-Request-ID) or made here, echoed, logged.

This wraps the whole application, outside Starlette's error middleware, so 500 answers carry
the ID too. Starlette re-raises after answering 500; the exception stops here, logged by
type only, because its text may carry connection strings. Health probes are logged at DEBUG
only: a probe every few seconds would otherwise drown the log (R-HLT-6).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from refstack.common.logs import current_request_id

HEADER = b"x-request-id"
_VALID = re.compile(rb"^[A-Za-z0-9._-]{8,128}$")
log = logging.getLogger("access")


def _incoming(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER and _VALID.match(value):
            return str(value.decode())
    return uuid.uuid4().hex


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp, quiet_paths: Iterable[str]) -> None:
        self.app = app
        self.quiet_paths = frozenset(quiet_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming(scope)
        token = current_request_id.set(request_id)
        started = time.monotonic()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != HEADER]
                message = {**message, "headers": [*headers, (HEADER, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:  # already answered 500 by the error handler
            log.exception("unhandled %s on %s", type(error).__name__, scope["path"])
        finally:
            level = logging.DEBUG if scope["path"] in self.quiet_paths else logging.INFO
            log.log(
                level,
                "method=%s path=%s status=%d duration_ms=%.1f",
                scope["method"],
                scope["path"],
                status,
                (time.monotonic() - started) * 1000,
            )
            current_request_id.reset(token)
