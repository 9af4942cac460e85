"""A Sentry ingest endpoint for tests: it accepts what sentry-sdk sends and keeps it.

    with SentryFake() as sentry:                      # listens on 127.0.0.1, a free port
        start_service(SENTRY_DSN=sentry.dsn)
        event, = sentry.wait_for("event", timeout_s=10)
        scan(sentry.bodies())                         # what crossed the wire, decompressed

It answers as Sentry's Relay does: `POST /api/<project>/envelope/` (and the legacy
`/api/<project>/store/`) with gzip, deflate or (with the Brotli module) br bodies, plain or
chunked, authenticated by `X-Sentry-Auth`, the `sentry_key` query parameter or the envelope's
`dsn` header; `200 {"id": <event id>}` when accepted, `400`/`401`/`403`/`413`/`415` with a
`{"detail": ...}` body otherwise. `answer_with(429)` makes it refuse for a while, as a rate
limit or an outage would. HTTP itself (HEAD, 404, 405 with `Allow`, keep-alive, a clean stop)
is `httpfake`'s, as for the other fakes; stopping ends the control API's long polls first.

Run it as a process with `python -m stackproof.fakes.sentry --port 0`: the first stdout line
is JSON with its `url` and `dsn`. `SentryFakeClient(url)` then reads what arrived through the
control API under `/_stackproof/` (`received`, `wait`, `answer`; `DELETE received` clears).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import ipaddress
import json
import logging
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from stackproof.errors import ServiceStartError, StackproofError
from stackproof.fakes import httpfake
from stackproof.fakes.sentry_wire import (
    Envelope,
    Item,
    SentryAuth,
    WireError,
    decode_body,
    parse_auth,
    parse_envelope,
    parse_store_body,
)

DEFAULT_PROJECT_ID: Final = "1"
MAX_REQUEST_BYTES: Final = 20 * 1024 * 1024  # Relay's limit for a (compressed) request body
CONTROL: Final = "/_stackproof"
log = logging.getLogger(__name__)


class SentryWaitError(StackproofError):
    """What a test waited for did not arrive at the Sentry fake in time."""


class SentryStoppingError(SentryWaitError):
    """The Sentry fake stopped while something waited on it."""


@dataclass(frozen=True, slots=True)
class Received:
    """One accepted request: who sent it, and its body as decompressed and parsed."""

    endpoint: str  # "envelope" or "store"
    project_id: str
    auth: SentryAuth
    content_encoding: str | None
    body: bytes = field(repr=False)
    envelope: Envelope = field(repr=False)
    received_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "project_id": self.project_id,
            "auth": {
                "public_key": self.auth.public_key,
                "client": self.auth.client,
                "version": self.auth.version,
            },
            "content_encoding": self.content_encoding,
            "received_at": self.received_at,
            "body_base64": base64.b64encode(self.body).decode(),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Received:
        body = base64.b64decode(data["body_base64"])
        parse = parse_store_body if data["endpoint"] == "store" else parse_envelope
        auth = data["auth"]
        return cls(
            data["endpoint"],
            data["project_id"],
            SentryAuth(auth["public_key"], auth["client"], auth["version"]),
            data["content_encoding"],
            body,
            parse(body),
            data["received_at"],
        )


class InboxView:
    """Questions about what arrived; `received()` is provided by the subclass."""

    def received(self) -> list[Received]:
        raise NotImplementedError

    def items(self, item_type: str | None = None) -> list[Item]:
        return [
            item
            for request in self.received()
            for item in request.envelope.items
            if item_type is None or item.type == item_type
        ]

    def events(self) -> list[dict[str, Any]]:
        """Error and message events (not transactions)."""
        return [i.data for i in self.items("event") if isinstance(i.data, dict)]

    def transactions(self) -> list[dict[str, Any]]:
        return [i.data for i in self.items("transaction") if isinstance(i.data, dict)]

    def logs(self) -> list[dict[str, Any]]:
        """Log records of `log` items (sentry-sdk's `enable_logs`)."""
        return [
            record
            for item in self.items("log")
            if isinstance(item.data, dict)
            for record in item.data.get("items", [])
            if isinstance(record, dict)
        ]

    def breadcrumbs(self) -> list[dict[str, Any]]:
        """The breadcrumbs every event carried."""
        found: list[dict[str, Any]] = []
        for event in self.events() + self.transactions():
            crumbs = event.get("breadcrumbs") or []
            if isinstance(crumbs, dict):
                crumbs = crumbs.get("values") or []
            found += [c for c in crumbs if isinstance(c, dict)]
        return found

    def bodies(self) -> list[bytes]:
        """Every accepted body, decompressed: what a leak scan reads."""
        return [request.body for request in self.received()]

    def counts(self) -> dict[str, int]:
        """Items received, by type."""
        return dict(Counter(item.type for item in self.items()))


class SentryInbox(InboxView):
    """What the fake accepted, safe to read and wait on from any thread."""

    def __init__(self) -> None:
        self._received: list[Received] = []
        self._changed = threading.Condition()
        self._refused = 0
        self._waiting = 0
        self._closed = False

    @property
    def waiting(self) -> int:
        """Waits in progress (a test's, or a long poll of the control API)."""
        with self._changed:
            return self._waiting

    def open(self) -> None:
        with self._changed:
            self._closed = False

    def close(self) -> None:
        """End every wait at once: the fake is stopping (a long poll must not hold it)."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def refused(self) -> int:
        """Requests answered by `answer_with` instead of being kept."""
        return self._refused

    def note_refused(self) -> None:
        with self._changed:
            self._refused += 1

    def add(self, request: Received) -> None:
        with self._changed:
            self._received.append(request)
            self._changed.notify_all()

    def received(self) -> list[Received]:
        with self._changed:
            return list(self._received)

    def clear(self) -> None:
        with self._changed:
            self._received.clear()
            self._refused = 0

    def wait_for(
        self,
        item_type: str,
        count: int = 1,
        *,
        timeout_s: float,
        where: Callable[[Item], bool] | None = None,
        what: str | None = None,
    ) -> list[Item]:
        """The first `count` items of `item_type` (matching `where`), once they have arrived.

        Raises SentryWaitError when they have not by the deadline (saying what did arrive),
        or when the fake stops meanwhile.
        """
        deadline = time.monotonic() + timeout_s
        with self._changed:
            self._waiting += 1
            try:
                while True:
                    found = [i for i in self.items(item_type) if where is None or where(i)]
                    if len(found) >= count:
                        return found[:count]
                    if self._closed:
                        raise SentryStoppingError("Sentry fake: stopped while waiting")
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        message = _wait_message(item_type, count, what, timeout_s, self)
                        raise SentryWaitError(message)
                    self._changed.wait(remaining)
            finally:
                self._waiting -= 1


def _wait_message(
    item_type: str, count: int, what: str | None, timeout_s: float, inbox: InboxView
) -> str:
    wanted = f"{count} {item_type} item(s)" + (f" ({what})" if what else "")
    seen = ", ".join(f"{n} {t}" for t, n in sorted(inbox.counts().items())) or "nothing"
    return f"Sentry fake: expected {wanted} within {timeout_s:g} s; received {seen}"


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer given instead of accepting (a rate limit, an outage)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    detail: str = "refused by the test"

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "headers": dict(self.headers), "detail": self.detail}

    @classmethod
    def rate_limited(cls, retry_after_s: int = 60) -> Answer:
        return cls(
            429,
            {"Retry-After": str(retry_after_s), "X-Sentry-Rate-Limits": f"{retry_after_s}::key"},
            "Sentry dropped data due to a quota or internal rate limit being reached.",
        )


class SentryFake(InboxView):
    """The ingest endpoint on a loopback port, served from a thread; a context manager."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        project_id: str = DEFAULT_PROJECT_ID,
        public_key: str | None = None,
        allow_non_loopback: bool = False,
    ) -> None:
        if not allow_non_loopback and not _is_loopback(host):
            raise ValueError(f"{host!r} is not a loopback address (allow_non_loopback=True?)")
        if not project_id.isdigit():
            raise ValueError(f"project id {project_id!r}: Sentry project ids are digits")
        self.host, self.port = host, port
        self.project_id = project_id
        self.public_key = public_key or secrets.token_hex(16)
        self.inbox = SentryInbox()
        self._answer: Answer | None = None
        self._server: httpfake.FakeServer | None = None

    # -- where it is ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the Sentry fake is not started")
        return self._server.url

    @property
    def dsn(self) -> str:
        """The DSN a service is given: `http://<public key>@127.0.0.1:<port>/<project>`."""
        return f"http://{self.public_key}@{self.url.removeprefix('http://')}/{self.project_id}"

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> SentryFake:
        self.inbox.open()
        self._server = httpfake.FakeServer(self._routes(), self.host, self.port, name="Sentry")
        self._server.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            self.inbox.close()  # long polls answer now, so stopping need not wait for them
            server.stop()

    def __enter__(self) -> SentryFake:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what arrived --------------------------------------------------------------------------

    def received(self) -> list[Received]:
        return self.inbox.received()

    def wait_for(
        self,
        item_type: str,
        count: int = 1,
        *,
        timeout_s: float,
        where: Callable[[Item], bool] | None = None,
        what: str | None = None,
    ) -> list[Item]:
        return self.inbox.wait_for(item_type, count, timeout_s=timeout_s, where=where, what=what)

    def clear(self) -> None:
        self.inbox.clear()

    # -- misbehaving on purpose ----------------------------------------------------------------

    @contextlib.contextmanager
    def answer_with(self, answer: Answer) -> Iterator[None]:
        """Refuse every request with `answer` inside the block (nothing is kept meanwhile)."""
        previous, self._answer = self._answer, answer
        try:
            yield
        finally:
            self._answer = previous

    # -- the HTTP side -------------------------------------------------------------------------

    def _routes(self) -> httpfake.Routes:
        routes = httpfake.Routes(error=_relay_error, max_body=MAX_REQUEST_BYTES)
        for endpoint in ("envelope", "store"):
            for path in (f"/api/{{project}}/{endpoint}/", f"/api/{{project}}/{endpoint}"):
                routes.add("POST", path, functools.partial(self._ingest, endpoint))
        routes.add("GET", f"{CONTROL}/received", self._received_json)
        routes.add("DELETE", f"{CONTROL}/received", self._clear)
        routes.add("GET", f"{CONTROL}/wait", self._wait)
        routes.add("PUT", f"{CONTROL}/answer", self._set_answer)
        return routes

    def _ingest(self, endpoint: str, request: httpfake.Request) -> httpfake.Answer:
        project_id = request.params["project"]
        if not project_id.isdigit():
            return _relay_error(404, "Not Found")
        status, body, headers = self.ingest(
            project_id, endpoint, request.query, request.headers, request.body
        )
        return httpfake.Answer.json(status, body, headers)

    def ingest(
        self,
        project_id: str,
        endpoint: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        raw: bytes,
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """Answer one ingest request: status, JSON body, extra headers."""
        if (answer := self._answer) is not None:
            self.inbox.note_refused()
            return answer.status, {"detail": answer.detail}, dict(answer.headers)
        try:
            request = self._accept(project_id, endpoint, query, headers, raw)
        except WireError as error:
            log.info("Sentry fake refused a request: %s %s", error.status, error.detail)
            return error.status, {"detail": error.detail}, {}
        self.inbox.add(request)
        event_id = request.envelope.event_id
        return 200, ({"id": event_id} if event_id else {}), {}

    def _accept(
        self,
        project_id: str,
        endpoint: str,
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Received:
        encoding = headers.get("content-encoding")
        body = decode_body(raw, encoding)
        envelope = parse_envelope(body) if endpoint == "envelope" else parse_store_body(body)
        auth = parse_auth(headers.get("x-sentry-auth"), query, envelope.headers.get("dsn"))
        if auth.public_key is None:
            raise WireError(401, "missing authorization information")
        if auth.public_key != self.public_key:
            raise WireError(401, "invalid authorization: unknown public key")
        if project_id != self.project_id:
            raise WireError(403, "event submission rejected with_reason: ProjectId")
        return Received(endpoint, project_id, auth, encoding, body, envelope)

    # The control API of a fake run as a process (see `SentryFakeClient`).

    def _received_json(self, request: httpfake.Request) -> httpfake.Answer:
        return httpfake.Answer.json(200, [r.to_json() for r in self.received()])

    def _clear(self, request: httpfake.Request) -> httpfake.Answer:
        self.clear()
        return httpfake.Answer.json(200, {})

    def _wait(self, request: httpfake.Request) -> httpfake.Answer:
        query = request.query
        item_type = (query.get("type") or ["event"])[0]
        try:
            count = int((query.get("count") or ["1"])[0])
            timeout_s = min(float((query.get("timeout_s") or ["10"])[0]), 60.0)
        except ValueError:
            return _relay_error(400, "count and timeout_s must be numbers")
        try:
            self.wait_for(item_type, count, timeout_s=timeout_s)
        except SentryStoppingError as error:
            return httpfake.Answer.json(503, {"detail": str(error)})
        except SentryWaitError as error:
            return httpfake.Answer.json(408, {"detail": str(error), "counts": self.inbox.counts()})
        return httpfake.Answer.json(200, {"counts": self.inbox.counts()})

    def _set_answer(self, request: httpfake.Request) -> httpfake.Answer:
        try:
            spec = json.loads(request.body or b"null")
            self._answer = None if spec is None else Answer(**spec)
        except (ValueError, TypeError) as error:
            return _relay_error(400, f"expected null or an answer: {error}")
        return httpfake.Answer.json(200, {})


def _relay_error(status: int, detail: str) -> httpfake.Answer:
    """Relay's error body: `{"detail": ...}`."""
    if status == 413:
        detail = "envelope exceeded size limits"
    return httpfake.Answer.json(status, {"detail": detail.lower()})


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- the fake as a process -------------------------------------------------------------------


class SentryFakeClient(InboxView):
    """What a Sentry fake running as a process received, through its control API."""

    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, timeout=timeout_s)

    def received(self) -> list[Received]:
        response = self._http.get(f"{CONTROL}/received")
        response.raise_for_status()
        return [Received.from_json(data) for data in response.json()]

    def clear(self) -> None:
        self._http.delete(f"{CONTROL}/received").raise_for_status()

    def answer_with(self, answer: Answer | None) -> None:
        """Refuse every request with `answer` from now on (None: accept again)."""
        spec = None if answer is None else answer.to_json()
        self._http.put(f"{CONTROL}/answer", json=spec).raise_for_status()

    def wait_for(
        self,
        item_type: str,
        count: int = 1,
        *,
        timeout_s: float,
        where: Callable[[Item], bool] | None = None,
        what: str | None = None,
    ) -> list[Item]:
        """As `SentryInbox.wait_for`; the fake holds each request until something arrives."""
        deadline = time.monotonic() + timeout_s
        while True:
            arrived = self.items(item_type)
            found = [i for i in arrived if where is None or where(i)]
            if len(found) >= count:
                return found[:count]
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SentryWaitError(_wait_message(item_type, count, what, timeout_s, self))
            # Long poll: the fake answers once one more item of this type is there.
            self._http.get(
                f"{CONTROL}/wait",
                params={"type": item_type, "count": len(arrived) + 1, "timeout_s": remaining},
                timeout=remaining + 5.0,
            )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SentryFakeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stackproof.fakes.sentry",
        description="A Sentry ingest endpoint that keeps what it receives, for tests. The "
        "first stdout line is JSON with its url and dsn.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port, 0 for any (default 0)")
    parser.add_argument("--project-id", default=DEFAULT_PROJECT_ID, help="default 1")
    parser.add_argument("--public-key", help="the DSN's public key (default: random)")
    parser.add_argument(
        "--allow-non-loopback",
        action="store_true",
        help="allow an address other than loopback (in a container, where the network is its own)",
    )
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    stop = httpfake.stop_on_signals()
    try:
        fake = SentryFake(
            args.host,
            args.port,
            project_id=args.project_id,
            public_key=args.public_key,
            allow_non_loopback=args.allow_non_loopback,
        ).start()
    except (ValueError, ServiceStartError) as error:
        print(f"sentry fake: {error}", file=sys.stderr)
        return 1
    try:
        print(json.dumps({"url": fake.url, "dsn": fake.dsn}), flush=True)
        stop.wait()
    finally:
        fake.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
