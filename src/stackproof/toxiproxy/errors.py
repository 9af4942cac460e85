"""The errors the API answers with: the messages and status codes of Toxiproxy's `api.go`."""

from __future__ import annotations


class ApiError(Exception):
    """An API failure with the HTTP status it maps to; the body is `{"error", "status"}`."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status

    def joined(self, detail: str) -> ApiError:
        """The same error with a detail appended, as Toxiproxy's `joinError` does."""
        return ApiError(f"{self.message}: {detail}", self.status)

    def body(self) -> dict[str, object]:
        return {"error": self.message, "status": self.status}


BAD_REQUEST_BODY = ApiError("bad request body", 400)
MISSING_FIELD = ApiError("missing required field", 400)
PROXY_NOT_FOUND = ApiError("proxy not found", 404)
PROXY_ALREADY_EXISTS = ApiError("proxy already exists", 409)
INVALID_STREAM = ApiError("stream was invalid, can be either upstream or downstream", 400)
INVALID_TOXIC_TYPE = ApiError("invalid toxic type", 400)
TOXIC_ALREADY_EXISTS = ApiError("toxic already exists", 409)
TOXIC_NOT_FOUND = ApiError("toxic not found", 404)


def server_error(error: OSError) -> ApiError:
    """A failure Toxiproxy reports as 500 with the OS message (e.g. a port already in use)."""
    return ApiError(str(error), 500)
