"""What the HTTP fakes share: routes to handlers, JSON answers, and a server to run them.

A fake is a set of routes `(method, path) -> handler`; a handler gets the request and returns
an `Answer`. Starlette routes them, so HTTP is answered as a framework does: HEAD wherever
GET is, 405 with `Allow` for a known path and another method, 404 for an unknown path (each
fake says what their bodies look like). uvicorn serves them on a loopback port, in a thread
of the harness (`with FakeServer(routes) as server: server.url`), which is also how a fake
runs as a process, a service of a profile: `stop_on_signals()`, `start()`, wait, `stop()`.

Handlers are plain functions and run in a worker thread, so one may block (a long poll).
`start` returns once uvicorn serves; `stop` ends kept-alive connections, gives requests in
flight `GRACE_S` to finish, and returns within `STOP_TIMEOUT_S` or raises.
"""

from __future__ import annotations

import http
import json
import logging
import signal
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Final
from urllib.parse import parse_qs

import anyio.to_thread
import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest
from starlette.responses import Response
from starlette.routing import Route

from stackproof.errors import ServiceStartError
from stackproof.readiness import Check, wait_for

LOOPBACK: Final = "127.0.0.1"
MAX_BODY: Final = 1 << 20
START_TIMEOUT_S: Final = 10.0
STOP_TIMEOUT_S: Final = 10.0
GRACE_S: Final = 2  # how long requests in flight at `stop` may take to finish
KEEP_ALIVE_S: Final = 75  # as nginx's default: SDK connection pools reuse their connections
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # names in lower case
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
ErrorAnswer = Callable[[int, str], Answer]  # (status, reason phrase) -> the fake's error body


def discord_error(status: int, phrase: str) -> Answer:
    """Discord's error body (the webhook fake's, and the default)."""
    return Answer.json(status, {"message": f"{status}: {phrase}", "code": 0})


class Routes:
    """`(method, path pattern) -> handler`; `{name}` in a pattern matches one path segment."""

    def __init__(self, error: ErrorAnswer = discord_error, max_body: int = MAX_BODY) -> None:
        self._handlers: dict[str, dict[str, Handler]] = {}  # pattern -> method -> handler
        self.error = error
        self.max_body = max_body

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._handlers.setdefault(pattern, {})[method.upper()] = handler

    def app(self) -> Starlette:
        routes = [
            Route(pattern, self._endpoint(handlers), methods=list(handlers))
            for pattern, handlers in self._handlers.items()
        ]
        app = Starlette(routes=routes, exception_handlers={HTTPException: self._refusal})
        app.router.redirect_slashes = False  # a fake answers the path it was asked, no 307
        return app

    def _endpoint(self, handlers: Mapping[str, Handler]) -> Callable[[StarletteRequest], Any]:
        async def endpoint(request: StarletteRequest) -> Response:
            # Starlette routes HEAD to the GET handler; the server sends no body for it.
            handler = handlers.get(request.method) or handlers["GET"]
            body = await _body(request, self.max_body)
            if body is None:
                answer = self.error(413, "Request Entity Too Large")
                return _response(answer, {"Connection": "close"})  # the rest is not read
            fake_request = Request(
                request.method,
                request.url.path,
                parse_qs(request.url.query),
                dict(request.headers.items()),
                body,
                {name: str(value) for name, value in request.path_params.items()},
            )
            # A thread per request: a handler may block; at `stop` a blocked one is left.
            answer = await anyio.to_thread.run_sync(
                self._answer, handler, fake_request, abandon_on_cancel=True
            )
            return _response(answer)

        return endpoint

    def _answer(self, handler: Handler, request: Request) -> Answer:
        try:
            return handler(request)
        except Exception:  # a fake's own bug: answer 500 as a real service would
            log.exception("fake: %s %s failed", request.method, request.path)
            return self.error(500, "Internal Server Error")

    async def _refusal(self, request: StarletteRequest, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        phrase = http.HTTPStatus(error.status_code).phrase
        return _response(self.error(error.status_code, phrase), error.headers)


async def _body(request: StarletteRequest, limit: int) -> bytes | None:
    """The request's body (chunked or not), or None when it is longer than `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _response(answer: Answer, extra: Mapping[str, str] | None = None) -> Response:
    return Response(answer.body, answer.status, headers={**answer.headers, **(extra or {})})


@dataclass(frozen=True, slots=True)
class _Serving:
    server: uvicorn.Server

    description = "uvicorn serves"

    def check(self) -> Check:
        return Check(self.server.started, "started" if self.server.started else "starting")


class FakeServer:
    """Routes served on a loopback port (0: any free one), bound at construction."""

    def __init__(
        self, routes: Routes, host: str = LOOPBACK, port: int = 0, name: str = "fake"
    ) -> None:
        self.name = name
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._socket = socket.create_server((host, port), family=family)
        except OSError as error:
            raise ServiceStartError(
                f"{name} fake: cannot listen on {host}:{port}: {error}"
            ) from None
        config = uvicorn.Config(
            routes.app(),
            http="h11",
            loop="asyncio",
            ws="none",
            lifespan="off",
            log_config=None,  # the harness's logging stays as it was
            access_log=False,
            server_header=False,
            headers=[("Server", "stackproof-fake")],
            timeout_keep_alive=KEEP_ALIVE_S,
            timeout_graceful_shutdown=GRACE_S,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        host: str = self._socket.getsockname()[0]
        return host

    @property
    def port(self) -> int:
        port: int = self._socket.getsockname()[1]
        return port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> FakeServer:
        thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"stackproof-{self.name}",
            daemon=True,
        )
        self._thread = thread
        thread.start()
        try:
            wait_for(
                _Serving(self._server),
                timeout_s=START_TIMEOUT_S,
                what=f"the {self.name} fake",
                give_up=lambda: None if thread.is_alive() else "its server thread ended",
                interval_s=0.005,
            )
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            self._server.should_exit = True
            thread.join(STOP_TIMEOUT_S)
            if thread.is_alive():
                self._server.force_exit = True
                thread.join(STOP_TIMEOUT_S)
        self._socket.close()
        if thread is not None and thread.is_alive():
            raise ServiceStartError(f"{self.name} fake: did not stop in {STOP_TIMEOUT_S:g} s")

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def stop_on_signals() -> threading.Event:
    """An event SIGINT and SIGTERM set: a fake run as a process waits on it, then stops."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop
