"""The front client against real TLS servers: a certificate another requirement owns never
blocks a check, and a front that cannot be reached is an `error`, not a finding."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support import REFERENCE

from stackproof.backends.base import Endpoint, PublicFront
from stackproof.checks.answers import front_answers
from stackproof.checks.evidence import Evidence
from stackproof.checks.health import HealthEndpoint
from stackproof.checks.http import FrontClient, trust
from stackproof.errors import PreconditionError
from stackproof.profile import load_profile
from stackproof.tls_ca import RunCA


class _Answers(BaseHTTPRequestHandler):
    def _answer(self) -> None:
        self.send_response(200)
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        return


def _serve(tmp_path: Path, names: list[str]) -> Iterator[tuple[int, Path]]:
    ca = RunCA(tmp_path)
    issued = ca.issue("server", names, valid_days=30)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(issued.cert_path, issued.key_path)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], ca.ca_path
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def wrong_name_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """An HTTPS server whose certificate (signed by the trusted CA) names another host."""
    yield from _serve(tmp_path, ["other.stackproof.invalid"])


def _front(port: int, ca: Path | None) -> PublicFront:
    return PublicFront("localhost", Endpoint("127.0.0.1", port), None, ca)


def test_a_certificate_with_the_wrong_name_does_not_block_the_answer(
    wrong_name_server: tuple[int, Path],
) -> None:
    """As `curl -k`: the answer is taken without verifying the certificate, and the evidence
    says so; R-TLS-3 and R-TLS-6 are the checks that judge the certificate."""
    port, ca = wrong_name_server
    evidence = Evidence("test")
    with FrontClient(_front(port, ca), evidence) as client:
        response = client.https("GET", "/")
        again = client.https("POST", "/", content=b"x")
    assert response.status_code == 200
    assert again.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert client.certificate_rejected is not None
    assert "hostname mismatch" in client.certificate_rejected.lower()
    noted = [item for item in evidence.items if item.label.startswith("certificate rejected")]
    assert len(noted) == 1, [item.label for item in evidence.items]
    assert "R-TLS-6" in str(noted[0].data)


def test_a_verified_front_is_not_marked(tmp_path: Path) -> None:
    for port, ca in _serve(tmp_path, ["localhost"]):
        with FrontClient(_front(port, ca), Evidence("test")) as client:
            assert client.https("GET", "/").status_code == 200
            assert client.certificate_rejected is None


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_front_that_refuses_connections_keeps_the_header_checks_from_judging() -> None:
    profile = load_profile(REFERENCE)
    with (
        FrontClient(_front(_closed_port(), None), Evidence("test")) as client,
        pytest.raises(PreconditionError, match=r"probe home.*(refused|Connect)"),
    ):
        front_answers(client, profile)


def test_a_health_endpoint_that_refuses_connections_is_a_precondition() -> None:
    endpoint = HealthEndpoint(
        "bot", "liveness", f"http://127.0.0.1:{_closed_port()}/healthz", False
    )
    with pytest.raises(PreconditionError, match=r"bot liveness .* cannot be reached"):
        endpoint.answer(timeout_s=1.0)
    response, _, error = endpoint.get(timeout_s=1.0)  # `get` keeps "no answer" as data
    assert response is None
    assert error is not None


def test_a_health_endpoint_behind_a_rejected_certificate_still_answers(
    wrong_name_server: tuple[int, Path],
) -> None:
    port, ca = wrong_name_server
    front = _front(port, ca)
    endpoint = HealthEndpoint("bot", "liveness", front.https_url("/healthz"), trust(front))
    response, _, error = endpoint.answer(timeout_s=5.0)
    assert error is None
    assert response is not None
    assert response.status_code == 200
