"""Health paths through the public front are reached at the front's address with the public
name in Host and SNI (as `curl --resolve`): the name need not resolve where the run is."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from stackproof.backends.base import Stack
from stackproof.backends.values import Endpoint, PublicFront
from stackproof.checks.health import front_health_endpoint, join_path
from stackproof.tls_ca import RunCA

PUBLIC_NAME = "staging.stackproof.invalid"  # .invalid never resolves (RFC 6761)


@pytest.mark.parametrize(
    ("prefix", "path", "joined"),
    [
        ("/auth", "/healthz", "/auth/healthz"),
        ("/auth/", "/healthz", "/auth/healthz"),
        ("/", "/healthz", "/healthz"),
        ("", "/healthz", "/healthz"),
        ("/bot", "canary", "/bot/canary"),
    ],
)
def test_prefixes_join_with_one_slash(prefix: str, path: str, joined: str) -> None:
    assert join_path(prefix, path) == joined


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"{self.headers['Host']} {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def front(tmp_path: Path) -> Iterator[PublicFront]:
    ca = RunCA(tmp_path)
    certificate = ca.issue("front", [PUBLIC_NAME], 30)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate.cert_path, certificate.key_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    yield PublicFront(PUBLIC_NAME, Endpoint("127.0.0.1", port), None, ca.ca_path)
    server.shutdown()
    server.server_close()


def test_a_front_health_path_is_reached_by_address_naming_the_public_host(
    front: PublicFront,
) -> None:
    health = SimpleNamespace(public_prefix="/bot/", readiness="/readyz", liveness=None)
    stack = SimpleNamespace(
        public=front, profile=SimpleNamespace(services={"bot": SimpleNamespace(health=health)})
    )
    endpoint = front_health_endpoint(cast(Stack, stack), "bot", "readiness")
    assert endpoint.url == f"https://{PUBLIC_NAME}:{front.https.port}/bot/readyz"
    response, _, error = endpoint.get(timeout_s=5)
    assert error is None, error
    assert response is not None
    assert response.status_code == 200
    assert response.text == f"{PUBLIC_NAME}:{front.https.port} /bot/readyz"
    assert endpoint.await_status({200}, timeout_s=5, interval_s=0.05) is not None
