"""The reference stack's uptime monitor (stack/ops/uptime_monitor.py) as cron runs it:
alerts on transitions only, and an alert that cannot be delivered is tried again."""

from __future__ import annotations

import http.server
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import ROOT

from stackproof.fakes.httpfake import Answer, FakeServer, Routes
from stackproof.fakes.webhook import WebhookReceiver
from stackproof.tls_ca import RunCA

MONITOR = ROOT / "stack" / "ops" / "uptime_monitor.py"


class Health:
    def __init__(self) -> None:
        self.status = 200
        routes = Routes()
        routes.add("GET", "/readyz", lambda _request: Answer.json(self.status, {}))
        self.server = FakeServer(routes)


@pytest.fixture
def health() -> Iterator[Health]:
    target = Health()
    with target.server:
        yield target


def monitor(health: Health, state: Path, webhook: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MONITOR), "--url", f"{health.server.url}/readyz",
         "--name", "svc", "--state-file", str(state), "--timeout", "5"],
        env={**os.environ, "ALERT_WEBHOOK_URL": webhook},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )  # fmt: skip


def test_only_transitions_alert(health: Health, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    with WebhookReceiver() as webhook:
        for status in (200, 200, 503, 503, 503, 200, 200, 503):
            health.status = status
            done = monitor(health, state, webhook.url)
            assert done.returncode == 0, done.stderr
        texts = [m.text for m in webhook.messages()]
    assert [text.split(":")[0] for text in texts] == ["DOWN", "UP", "DOWN"]
    assert "answered 503" in texts[0]


def test_a_first_run_that_finds_it_down_alerts(health: Health, tmp_path: Path) -> None:
    health.status = 500
    with WebhookReceiver() as webhook:
        monitor(health, tmp_path / "state.json", webhook.url)
        assert [m.text.split(":")[0] for m in webhook.messages()] == ["DOWN"]


def test_an_undelivered_alert_is_sent_on_the_next_run(health: Health, tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    health.status = 503
    with WebhookReceiver() as webhook:
        unreachable = webhook.url.replace(webhook.url.split("/api")[0], "http://127.0.0.1:9")
        failed = monitor(health, state, unreachable)
        assert "alert not delivered" in failed.stderr
        monitor(health, state, webhook.url)
        monitor(health, state, webhook.url)
        assert [m.text.split(":")[0] for m in webhook.messages()] == ["DOWN"]


def test_urls_other_than_http_are_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(MONITOR),
            "--url",
            "file:///etc/passwd",
            "--state-file",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "not an http(s) URL" in done.stderr


@pytest.fixture
def front_on_its_own_address(tmp_path: Path) -> Iterator[int]:
    """An HTTPS readiness endpoint for "localhost" that listens on 127.0.0.2 only (as a
    compose stack's front listens on a loopback address of its own)."""

    class Ready(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/readyz" else 404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    ca = RunCA(tmp_path)
    issued = ca.issue("front", ["localhost"], valid_days=1)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.cert_path, issued.key_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Ready)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_connect_reaches_a_front_its_name_does_not_resolve_to(
    front_on_its_own_address: int, tmp_path: Path
) -> None:
    port = front_on_its_own_address
    done = subprocess.run(
        [sys.executable, str(MONITOR), "--url", f"https://localhost:{port}/readyz",
         "--connect", f"127.0.0.2:{port}", "--ca-file", str(tmp_path / "ca.pem"),
         "--name", "svc", "--state-file", str(tmp_path / "state.json"), "--timeout", "5"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "svc UP (answered 200" in done.stdout  # the certificate checked for "localhost"
