"""`python -m stackproof.toxiproxy` as a harness starts it: a subprocess whose first
stdout line is the API URL, stopped by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from toxiproxy_helpers import DEADLINE_S, EchoServer, connect, recv_exactly

from stackproof.toxiproxy import ToxiproxyClient

SRC = str(Path(__file__).resolve().parents[2] / "src")

Start = Callable[..., "subprocess.Popen[str]"]


def first_line(process: subprocess.Popen[str]) -> str:
    """The first stdout line, or a failure naming stderr if none comes by the deadline."""
    stdout = process.stdout
    assert stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()))
    reader.start()
    reader.join(DEADLINE_S)
    if not lines or not lines[0]:
        process.kill()
        _, err = process.communicate(timeout=DEADLINE_S)
        raise AssertionError(f"no URL on stdout; stderr:\n{err}")
    return lines[0].strip()


@pytest.fixture
def start_server() -> Iterator[Start]:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        path = os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))
        process = subprocess.Popen(
            [sys.executable, "-m", "stackproof.toxiproxy", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": path},
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=DEADLINE_S)


def test_prints_url_and_stops_on_sigterm(start_server: Start, echo: EchoServer) -> None:
    process = start_server()
    url = first_line(process)
    assert url.startswith("http://127.0.0.1:")
    with ToxiproxyClient(url) as client:
        proxy = client.create_proxy("echo", echo.address)
        with connect(proxy.port) as sock:
            sock.sendall(b"hi")
            assert recv_exactly(sock, 2) == b"hi"
    process.send_signal(signal.SIGTERM)
    assert process.wait(DEADLINE_S) == 0


def test_config_proxies_exist_when_the_url_is_printed(
    start_server: Start, echo: EchoServer, tmp_path: Path
) -> None:
    config = tmp_path / "toxiproxy.json"
    proxies = [{"name": "echo", "upstream": echo.address, "listen": "127.0.0.1:0"}]
    config.write_text(json.dumps(proxies))
    process = start_server("--config", str(config))
    url = first_line(process)
    proxies = httpx.get(f"{url}/proxies", trust_env=False).json()
    assert proxies["echo"]["upstream"] == echo.address


def test_refuses_a_non_loopback_api_address(start_server: Start) -> None:
    process = start_server("--host", "0.0.0.0")
    assert process.wait(DEADLINE_S) == 1
    assert process.stderr is not None
    assert "not a loopback address" in process.stderr.read()
