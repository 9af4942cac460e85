"""A small notes API on the standard library only, with Redis as its one (hard) dependency.

It is here to show that a profile can describe a stack that is not the reference stack:
another language of service, another nginx config, another public host name.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import socket
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

HEALTH_PATHS = {"/healthz", "/readyz"}
log = logging.getLogger("notes")


class Redis:
    """Just enough RESP for AUTH, PING, RPUSH and LRANGE."""

    def __init__(self, url: str, timeout_s: float) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.password = unquote(parts.password or "")
        self.timeout_s = timeout_s

    def call(self, *words: str) -> object:
        with socket.create_connection(self.address, self.timeout_s) as conn:
            stream = conn.makefile("rwb")
            commands = ([("AUTH", self.password)] if self.password else []) + [words]
            for command in commands:
                stream.write(f"*{len(command)}\r\n".encode())
                for word in command:
                    data = word.encode()
                    stream.write(b"$%d\r\n%s\r\n" % (len(data), data))
            stream.flush()
            replies = [self._read(stream) for _ in commands]
            return replies[-1]

    def _read(self, stream: object) -> object:
        line = stream.readline()  # type: ignore[attr-defined]
        kind, rest = line[:1], line[1:-2]
        if kind == b"-":
            raise ConnectionError("redis refused a command")
        if kind in (b"+", b":"):
            return rest.decode()
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else stream.read(size + 2)[:-2].decode()  # type: ignore[attr-defined]
        if kind == b"*":
            return [self._read(stream) for _ in range(int(rest))]
        raise ConnectionError("redis answered something unreadable")


class Handler(BaseHTTPRequestHandler):
    server_version = "notes"
    sys_version = ""
    redis: Redis
    api_key: str

    def log_message(self, format: str, *args: object) -> None:
        """Replaced by one line per request in `_answer`."""

    def _answer(
        self, status: int, body: dict[str, object], headers: dict[str, str] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Request-ID", self.request_id)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
        level = logging.DEBUG if self.path in HEALTH_PATHS else logging.INFO
        log.log(
            level,
            "request_id=%s method=%s path=%s status=%d",
            self.request_id,
            self.command,
            self.path,
            status,
        )

    def _begin(self) -> None:
        incoming = self.headers.get("X-Request-ID", "")
        self.request_id = (
            incoming if incoming.isalnum() and 8 <= len(incoming) <= 64 else uuid.uuid4().hex
        )

    def do_GET(self) -> None:
        self._begin()
        if self.path == "/healthz":
            self._answer(200, {"status": "ok"})
        elif self.path == "/readyz":
            try:
                self.redis.call("PING")
            except OSError:
                self._answer(503, {"status": "unready", "failing": ["redis"]}, {"Retry-After": "5"})
            else:
                self._answer(200, {"status": "ready"})
        elif self.path == "/notes":
            try:
                self._answer(200, {"notes": self.redis.call("LRANGE", "notes", "0", "-1")})
            except OSError:
                self._answer(
                    503, {"error": "temporarily unavailable", "request_id": self.request_id}
                )
        elif self.path == "/admin/stats":
            given = self.headers.get("X-API-Key", "")
            if not hmac.compare_digest(given.encode(), self.api_key.encode()):
                self._answer(401, {"error": "unauthorized", "request_id": self.request_id})
            else:
                self._answer(
                    200, {"notes": len(self.redis.call("LRANGE", "notes", "0", "-1") or [])}
                )
        else:
            self._answer(404, {"error": "not found", "request_id": self.request_id})

    def do_POST(self) -> None:
        self._begin()
        if self.path != "/notes":
            self._answer(404, {"error": "not found", "request_id": self.request_id})
            return
        length = int(self.headers.get("Content-Length") or 0)
        text = self.rfile.read(length).decode(errors="replace")[:500]
        try:
            self.redis.call("RPUSH", "notes", text)
        except OSError:
            self._answer(503, {"error": "temporarily unavailable", "request_id": self.request_id})
        else:
            self._answer(201, {"stored": True})


def main() -> int:
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    api_key = os.environ.get("NOTES_API_KEY", "")
    if not api_key:
        log.error("NOTES_API_KEY is not set; refusing to start")
        return 2
    Handler.redis = Redis(os.environ["REDIS_URL"], timeout_s=2.0)
    Handler.api_key = api_key
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
