"""Error answers: a generic body and the request ID, never the exception's text (R-RED-4)."""

from __future__ import annotations

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


async def unexpected_error(request: Request, error: Exception) -> Response:
    return error_body(500, "internal error")
