"""Error answers: a generic body and the request ID, never the exception's text (R-RED-4)."""

from __future__ import annotations

import sentry_sdk
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from refstack.common.logs import current_request_id


def error_body(status: int, message: str) -> JSONResponse:
    return JSONResponse(
        {"error": message, "request_id": current_request_id.get()}, status_code=status
    )


async def http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    messages = {404: "not found", 405: "method not allowed", 413: "request too large"}
    return error_body(error.status_code, messages.get(error.status_code, "request refused"))


async def dependency_unavailable(request: Request, error: Exception) -> Response:
    """A dependency the route needs did not answer (the database down, a wrong password)."""
    sentry_sdk.capture_exception(error)  # the telemetry redacts what the event carries
    return error_body(503, "dependency unavailable")


async def unexpected_error(request: Request, error: Exception) -> Response:
    sentry_sdk.capture_exception(error)
    return error_body(500, "internal error")
