"""Fixtures for the fault-proxy tests: a fresh server per test and upstreams to proxy to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from toxiproxy_helpers import EchoServer, Upstream

from stackproof.toxiproxy import ServerThread, ToxiproxyClient


@pytest.fixture
def server() -> Iterator[ServerThread]:
    with ServerThread(seed=20240601) as running:
        yield running


@pytest.fixture
def client(server: ServerThread) -> Iterator[ToxiproxyClient]:
    with ToxiproxyClient(server.url) as api:
        yield api


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as running:
        yield running


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with Upstream() as running:
        yield running
