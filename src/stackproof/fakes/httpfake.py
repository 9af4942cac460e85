"""What the HTTP fakes share: routes to handlers, JSON answers, and a server to run them.

A fake is a set of routes `(method, path) -> handler`; a handler gets the request and returns
an `Answer`. `FakeServer` runs the routes on a loopback port, in a thread of the harness
(`with FakeServer(routes) as server: server.url`) or as the main loop of a process
(`serve_forever`, for fakes that are services of a profile). Standard library only.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

LOOPBACK = "127.0.0.1"
MAX_BODY = 1 << 20


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]
    body: bytes
    params: Mapping[str, str] = field(default_factory=dict)  # from the route's pattern

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, data: Any, headers: Mapping[str, str] | None = None) -> Answer:
        payload = json.dumps(data, separators=(",", ":")).encode()
        return cls(status, payload, {"Content-Type": "application/json", **(headers or {})})


Handler = Callable[[Request], Answer]


class Routes:
    """`(method, path pattern) -> handler`; `{name}` in a pattern matches one path segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern))
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def answer(self, request: Request) -> Answer:
        allowed = False
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match is None:
                continue
            if method != request.method:
                allowed = True
                continue
            routed = Request(
                request.method,
                request.path,
                request.query,
                request.headers,
                request.body,
                match.groupdict(),
            )
            return handler(routed)
        if allowed:
            return Answer.json(405, {"message": "405: Method Not Allowed", "code": 0})
        return Answer.json(404, {"message": "404: Not Found", "code": 0})


def _handler_class(routes: Routes) -> type[BaseHTTPRequestHandler]:
    class RequestHandler(BaseHTTPRequestHandler):
        server_version = "stackproof-fake"
        sys_version = ""
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: what a fake saw is for assertions, not for the terminal."""

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                self._send(Answer.json(413, {"message": "Request entity too large", "code": 40005}))
                return
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Request(
                self.command,
                parts.path,
                parse_qs(parts.query),
                {k.lower(): v for k, v in self.headers.items()},
                body,
            )
            try:
                answer = routes.answer(request)
            except Exception:  # a fake's own bug: answer 500 as a real service would
                answer = Answer.json(500, {"message": "500: Internal Server Error", "code": 0})
            self._send(answer)

        def _send(self, answer: Answer) -> None:
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if answer.body:
                self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    return RequestHandler


class FakeServer:
    """Routes served on a loopback port (0: any free one)."""

    def __init__(self, routes: Routes, host: str = LOOPBACK, port: int = 0) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler_class(routes))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        port: int = self._server.server_address[1]
        return port

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def serve_forever(self) -> None:
        try:
            self._server.serve_forever()
        finally:
            self._server.server_close()

    def start(self) -> FakeServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="stackproof-fake", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
