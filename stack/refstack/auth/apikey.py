"""API-key routes: `X-API-Key` compared in constant time, a fixed 401 body (R-AUTH-1, 2).

The key is read once at start; an empty or missing key stops the start (never fails open).
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from refstack.common.settings import required

HEADER = "X-API-Key"
UNAUTHORIZED = {"error": "missing or invalid API key"}

Handler = Callable[[Request], Awaitable[Response]]


def load_api_key(variable: str = "AUTH_API_KEY") -> bytes:
    return required(variable).encode()


def key_matches(expected: bytes, provided: str | None) -> bool:
    """Constant-time: the time taken does not depend on how much of the key was right."""
    if provided is None:
        return False
    return hmac.compare_digest(provided.encode(), expected)


def requires_api_key(expected: bytes) -> Callable[[Handler], Handler]:
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(request: Request) -> Response:
            if not key_matches(expected, request.headers.get(HEADER)):
                # The same body for a missing and a wrong key: nothing to learn from it.
                return JSONResponse(
                    UNAUTHORIZED, status_code=401, headers={"WWW-Authenticate": HEADER}
                )
            return await handler(request)

        return guarded

    return decorate
