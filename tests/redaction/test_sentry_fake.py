"""The Sentry ingest fake on the wire: envelopes, encodings, auth, errors, waits, processes."""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stackproof.fakes.sentry import Answer, SentryFake, SentryFakeClient, SentryWaitError
from stackproof.fakes.sentry_wire import WireError, decode_body
from stackproof.readiness import Check, wait_for

EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"
SRC = Path(__file__).resolve().parents[2] / "src"


def envelope(*items: tuple[dict[str, object], bytes], **headers: object) -> bytes:
    lines = [json.dumps({"event_id": EVENT_ID, **headers}).encode()]
    for item_headers, payload in items:
        lines += [json.dumps(item_headers).encode(), payload]
    return b"\n".join(lines) + b"\n"


EVENT = json.dumps({"event_id": EVENT_ID, "message": "line one\nline two"}).encode()
ONE_EVENT = envelope(({"type": "event", "length": len(EVENT)}, EVENT))


@pytest.fixture
def sentry() -> Iterator[SentryFake]:
    with SentryFake() as fake:
        yield fake


def auth(fake: SentryFake) -> dict[str, str]:
    return {"X-Sentry-Auth": f"Sentry sentry_key={fake.public_key}, sentry_version=7"}


def post(
    fake: SentryFake, body: bytes, path: str = "/api/1/envelope/", **headers: str
) -> httpx.Response:
    return httpx.post(fake.url + path, content=body, headers={**auth(fake), **headers})


def test_an_envelope_is_kept_and_answered_with_its_event_id(sentry: SentryFake) -> None:
    attachment = b"binary\nwith\nnewlines"
    body = envelope(
        ({"type": "event", "length": len(EVENT)}, EVENT),
        ({"type": "attachment", "length": len(attachment), "filename": "a.txt"}, attachment),
        ({"type": "client_report"}, b'{"discarded_events": []}'),
    )
    response = post(sentry, gzip.compress(body), **{"Content-Encoding": "gzip"})
    assert (response.status_code, response.json()) == (200, {"id": EVENT_ID})
    assert sentry.counts() == {"event": 1, "attachment": 1, "client_report": 1}
    assert sentry.events() == [json.loads(EVENT)]
    assert sentry.items("attachment")[0].payload == attachment
    assert sentry.bodies() == [body]  # decompressed, as it was written
    (received,) = sentry.received()
    assert (received.endpoint, received.project_id, received.content_encoding) == (
        "envelope",
        "1",
        "gzip",
    )


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("deflate", zlib.compress),
        ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some clients send
        ("identity", lambda data: data),
        ("gzip, identity", gzip.compress),
    ],
    ids=["deflate-zlib", "deflate-raw", "identity", "gzip-then-identity"],
)
def test_every_encoding_sdks_use_is_read(sentry: SentryFake, encoding: str, encode: object) -> None:
    assert callable(encode)
    response = post(sentry, encode(ONE_EVENT), **{"Content-Encoding": encoding})
    assert response.status_code == 200, response.text
    assert sentry.bodies() == [ONE_EVENT]


def test_brotli_bodies_are_read_when_brotli_is_installed(sentry: SentryFake) -> None:
    try:
        import brotli  # type: ignore[import-not-found, unused-ignore]  # noqa: PLC0415
    except ImportError:
        # sentry-sdk sends br only when it can import Brotli itself; here it cannot.
        response = post(sentry, b"\x0b\x02\x80", **{"Content-Encoding": "br"})
        assert response.status_code == 415
        assert "Brotli" in response.json()["detail"]
    else:
        response = post(sentry, brotli.compress(ONE_EVENT), **{"Content-Encoding": "br"})
        assert response.status_code == 200


def test_a_chunked_body_is_read(sentry: SentryFake) -> None:
    def pieces() -> Iterator[bytes]:
        data = gzip.compress(ONE_EVENT)
        yield from (data[i : i + 7] for i in range(0, len(data), 7))

    response = httpx.post(
        f"{sentry.url}/api/1/envelope/",
        content=pieces(),
        headers={**auth(sentry), "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert sentry.bodies() == [ONE_EVENT]


def test_the_key_may_come_in_the_query_or_the_envelope(sentry: SentryFake) -> None:
    in_query = httpx.post(
        f"{sentry.url}/api/1/envelope/?sentry_key={sentry.public_key}&sentry_version=7",
        content=ONE_EVENT,
    )
    in_envelope = httpx.post(
        f"{sentry.url}/api/1/envelope/",
        content=envelope(({"type": "event"}, EVENT.replace(b"\n", b" ")), dsn=sentry.dsn),
    )
    assert (in_query.status_code, in_envelope.status_code) == (200, 200)
    assert [r.auth.public_key for r in sentry.received()] == [sentry.public_key] * 2


def test_the_legacy_store_endpoint(sentry: SentryFake) -> None:
    plain = post(sentry, EVENT, "/api/1/store/")
    old = post(sentry, base64.b64encode(zlib.compress(EVENT)), "/api/1/store/")
    assert (plain.json(), old.json()) == ({"id": EVENT_ID}, {"id": EVENT_ID})
    assert sentry.events() == [json.loads(EVENT)] * 2


@pytest.mark.parametrize(
    "case",
    [
        ("/api/1/envelope/", {}, ONE_EVENT, 401, "missing authorization information"),
        (
            "/api/1/envelope/",
            {"X-Sentry-Auth": "Sentry sentry_key=wrong"},
            ONE_EVENT,
            401,
            "unknown public key",
        ),
        ("/api/1/envelope/", {"X-Sentry-Auth": "Bearer x"}, ONE_EVENT, 401, "scheme"),
        ("/api/2/envelope/", None, ONE_EVENT, 403, "ProjectId"),
        ("/api/1/envelope/", None, b"", 400, "empty request body"),
        ("/api/1/envelope/", None, b"not json\n", 400, "envelope header"),
        ("/api/1/envelope/", None, b'{}\n{"length": 2}\n{}\n', 400, "has no type"),
        ("/api/1/envelope/", None, b'{}\n{"type": "event", "length": 99}\n{}\n', 400, "bad length"),
        ("/api/1/envelope/", None, b'{}\n{"type": "event"}\n{oops\n', 400, "invalid JSON data"),
        ("/api/1/store/", None, b"%%%", 400, "invalid JSON data"),
        ("/api/1/envelope/", {"Content-Encoding": "gzip"}, b"not gzip", 400, "invalid gzip"),
        ("/api/1/envelope/", {"Content-Encoding": "zstd"}, ONE_EVENT, 415, "zstd"),
        ("/api/x/envelope/", None, ONE_EVENT, 404, "not found"),
    ],
    ids=[
        "no-auth",
        "wrong-key",
        "wrong-scheme",
        "wrong-project",
        "empty",
        "bad-header",
        "item-without-type",
        "bad-length",
        "bad-event-json",
        "bad-store-body",
        "bad-gzip",
        "unknown-encoding",
        "unknown-path",
    ],
)
def test_bad_requests_are_refused_as_relay_does_and_not_kept(
    sentry: SentryFake, case: tuple[str, dict[str, str] | None, bytes, int, str]
) -> None:
    path, headers, body, status, detail = case
    sent = auth(sentry) if headers is None else headers
    response = httpx.post(sentry.url + path, content=body, headers=sent)
    assert response.status_code == status
    assert detail in response.json()["detail"]
    assert sentry.received() == []


def test_an_oversized_body_is_refused_before_it_is_read(sentry: SentryFake) -> None:
    host, port = sentry.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999\r\n\r\n"
        )
        answer = connection.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")


def test_a_decompression_bomb_stays_small() -> None:
    bomb = gzip.compress(b"\0" * 10_000_000)
    with pytest.raises(WireError, match="size limits") as refused:
        decode_body(bomb, "gzip", limit=1_000_000)
    assert refused.value.status == 413


def test_waiting_returns_when_the_item_arrives(sentry: SentryFake) -> None:
    sender = threading.Timer(0.2, post, args=(sentry, ONE_EVENT))  # arrives while we wait
    sender.start()
    try:
        started = time.monotonic()
        (item,) = sentry.wait_for("event", timeout_s=30)
    finally:
        sender.join()
    assert item.data["event_id"] == EVENT_ID
    assert time.monotonic() - started < 30


def test_a_wait_that_times_out_says_what_arrived(sentry: SentryFake) -> None:
    post(sentry, ONE_EVENT)
    with pytest.raises(SentryWaitError) as timed_out:
        sentry.wait_for("transaction", timeout_s=0.2, what="the startup transaction")
    assert str(timed_out.value) == (
        "Sentry fake: expected 1 transaction item(s) (the startup transaction) within 0.2 s; "
        "received 1 event"
    )


def test_waiting_with_a_condition(sentry: SentryFake) -> None:
    post(sentry, ONE_EVENT)
    (found,) = sentry.wait_for("event", timeout_s=1, where=lambda i: "two" in i.data["message"])
    assert found.data["event_id"] == EVENT_ID
    with pytest.raises(SentryWaitError):
        sentry.wait_for("event", timeout_s=0.1, where=lambda i: "three" in i.data["message"])


def test_a_rate_limit_is_answered_and_nothing_kept(sentry: SentryFake) -> None:
    with sentry.answer_with(Answer.rate_limited(30)):
        refused = post(sentry, ONE_EVENT)
    accepted = post(sentry, ONE_EVENT)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "30"
    assert refused.headers["X-Sentry-Rate-Limits"] == "30::key"
    assert accepted.status_code == 200
    assert (len(sentry.received()), sentry.inbox.refused) == (1, 1)


def test_only_loopback_unless_told(sentry: SentryFake) -> None:
    with pytest.raises(ValueError, match="not a loopback address"):
        SentryFake("0.0.0.0")
    with pytest.raises(ValueError, match="project ids are digits"):
        SentryFake(project_id="abc")


def test_the_fake_on_ipv6_loopback() -> None:
    with SentryFake("::1") as fake:
        assert fake.url.startswith("http://[::1]:")
        assert post(fake, ONE_EVENT).status_code == 200


def test_head_and_wrong_methods_get_the_frameworks_answers(sentry: SentryFake) -> None:
    received = httpx.get(f"{sentry.url}/_stackproof/received")
    head = httpx.head(f"{sentry.url}/_stackproof/received")
    assert (received.status_code, head.status_code) == (200, 200)
    assert (head.content, head.headers["content-length"]) == (b"", str(len(received.content)))
    for method in ("HEAD", "GET"):
        refused = httpx.request(method, f"{sentry.url}/api/1/envelope/", headers=auth(sentry))
        assert (refused.status_code, refused.headers["allow"]) == (405, "POST")
    assert sentry.received() == []


def test_stop_ends_kept_alive_connections_and_long_polls() -> None:
    fake = SentryFake().start()
    host, port = fake.url.removeprefix("http://").split(":")
    answers: list[int] = []

    def long_poll() -> None:
        with contextlib.suppress(httpx.HTTPError):
            waited = httpx.get(f"{fake.url}/_stackproof/wait", params={"timeout_s": 60}, timeout=90)
            answers.append(waited.status_code)

    kept = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        kept.request("GET", "/_stackproof/received")
        assert (kept.getresponse().read(), kept.sock is not None) == (b"[]", True)  # kept open
        poller = threading.Thread(target=long_poll)
        poller.start()
        wait_for(
            Listening(fake), timeout_s=10, what="the long poll", hint="it never reached the fake"
        )
        fake.stop()
        poller.join(30)  # the poll asked for 60 s: stopping must end it long before
        assert not poller.is_alive(), "stop() left a long poll waiting"
        assert kept.sock.recv(4096) == b"", "stop() left a kept-alive connection open"
    finally:
        kept.close()
    assert answers == [503]  # told that the fake stopped, not cut off
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((host, int(port)), timeout=10).close()


class Listening:
    """A long poll is waiting inside the fake."""

    description = "a control-API wait in progress"

    def __init__(self, fake: SentryFake) -> None:
        self.fake = fake

    def check(self) -> Check:
        waiting = self.fake.inbox.waiting
        return Check(waiting > 0, f"{waiting} waiting")


# -- as a process ----------------------------------------------------------------------------


@pytest.fixture
def sentry_process() -> Iterator[tuple[subprocess.Popen[str], dict[str, str]]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "stackproof.fakes.sentry", "--port", "0", "--project-id", "7"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=30), "the Sentry fake printed nothing within 30 s"
        yield process, json.loads(process.stdout.readline())
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def test_the_fake_as_a_process(
    sentry_process: tuple[subprocess.Popen[str], dict[str, str]],
) -> None:
    process, where = sentry_process
    url, dsn = where["url"], where["dsn"]
    assert dsn.startswith("http://")
    assert dsn.endswith("/7")
    key = dsn.removeprefix("http://").split("@")[0]
    with SentryFakeClient(url) as client:
        sender = threading.Timer(
            0.2,
            httpx.post,
            args=(f"{url}/api/7/envelope/",),
            kwargs={"content": ONE_EVENT, "headers": {"X-Sentry-Auth": f"Sentry sentry_key={key}"}},
        )
        sender.start()
        try:
            (item,) = client.wait_for("event", timeout_s=30)
        finally:
            sender.join()
        assert item.data["event_id"] == EVENT_ID
        assert client.bodies() == [ONE_EVENT]
        with pytest.raises(SentryWaitError, match="received 1 event"):
            client.wait_for("transaction", timeout_s=0.3)
        client.answer_with(Answer(503, detail="down for the test"))
        refused = httpx.post(f"{url}/api/7/envelope/?sentry_key={key}", content=ONE_EVENT)
        assert (refused.status_code, refused.json()) == (503, {"detail": "down for the test"})
        client.answer_with(None)
        client.clear()
        assert client.received() == []
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
