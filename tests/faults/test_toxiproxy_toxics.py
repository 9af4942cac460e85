"""Each toxic's observable effect on real sockets on 127.0.0.1.

Timing asserts are lower bounds with slack (a toxic must delay at least this much); how
fast things go is the benchmark's business, not these tests'.
"""

from __future__ import annotations

import itertools
import random
import socket
import time

import pytest
from toxiproxy_helpers import (
    EchoServer,
    Upstream,
    closed_how,
    connect,
    nothing_arrives,
    recv_exactly,
    recv_until_eof,
    refused,
)

from stackproof.toxiproxy import ProxyInfo, ServerThread, ToxiproxyClient
from stackproof.toxiproxy.effects import Slicer
from stackproof.toxiproxy.schema import Stream
from stackproof.toxiproxy.toxics import TOXIC_TYPES, Toxic


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    started = time.monotonic()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.monotonic() - started


@pytest.fixture
def echo_proxy(client: ToxiproxyClient, echo: EchoServer) -> ProxyInfo:
    return client.create_proxy("echo", echo.address)


@pytest.fixture
def driven_proxy(client: ToxiproxyClient, upstream: Upstream) -> ProxyInfo:
    return client.create_proxy("driven", upstream.address)


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_latency_delays_each_round_trip(
    client: ToxiproxyClient, echo_proxy: ProxyInfo, stream: Stream
) -> None:
    with connect(echo_proxy.port) as sock:
        round_trip(sock)
        with client.toxic(echo_proxy, "latency", attributes={"latency": 200}, stream=stream):
            assert round_trip(sock) >= 0.19  # the connection existed before the toxic
            with connect(echo_proxy.port) as fresh:
                assert round_trip(fresh) >= 0.19


def test_latency_with_jitter_stays_within_its_range(
    client: ToxiproxyClient, echo_proxy: ProxyInfo
) -> None:
    with (
        connect(echo_proxy.port) as sock,
        client.toxic(echo_proxy, "latency", attributes={"latency": 100, "jitter": 50}),
    ):
        assert all(round_trip(sock) >= 0.049 for _ in range(5))


def test_removing_latency_releases_held_data(
    client: ToxiproxyClient, echo_proxy: ProxyInfo
) -> None:
    with connect(echo_proxy.port) as sock:
        with client.toxic(echo_proxy, "latency", attributes={"latency": 60_000}):
            started = time.monotonic()
            sock.sendall(b"held")
        # Held data moves on at once, not after a minute ("no data on the floor").
        assert recv_exactly(sock, 4) == b"held"
        assert time.monotonic() - started < 30


def test_bandwidth_limits_the_rate(
    client: ToxiproxyClient, driven_proxy: ProxyInfo, upstream: Upstream
) -> None:
    payload = random.randbytes(300_000)
    with (
        connect(driven_proxy.port) as sock,
        client.toxic(driven_proxy, "bandwidth", attributes={"rate": 500}),  # 500 KB/s
    ):
        server = upstream.accept()
        started = time.monotonic()
        server.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        assert time.monotonic() - started >= 0.45  # 300 KB at 500 KB/s is 0.6 s


def test_slow_close_delays_the_fin(
    client: ToxiproxyClient, driven_proxy: ProxyInfo, upstream: Upstream
) -> None:
    with (
        connect(driven_proxy.port) as sock,
        client.toxic(driven_proxy, "slow_close", attributes={"delay": 300}),
    ):
        server = upstream.accept()
        server.sendall(b"bye")
        started = time.monotonic()
        server.close()
        assert recv_until_eof(sock) == b"bye"
        assert time.monotonic() - started >= 0.29


def test_timeout_zero_drops_data_and_removal_closes(
    client: ToxiproxyClient, driven_proxy: ProxyInfo, upstream: Upstream
) -> None:
    with connect(driven_proxy.port) as sock:
        server = upstream.accept()
        with client.toxic(driven_proxy, "timeout", attributes={"timeout": 0}):
            server.sendall(b"lost")
            # Waiting is the observation here: nothing may arrive while the toxic holds.
            assert nothing_arrives(sock, within_s=0.3)
        # Toxiproxy closes the connections a timeout toxic held when it is removed.
        assert closed_how(sock) == "eof"
        assert closed_how(server) == "eof"


def test_timeout_closes_after_the_timeout(
    client: ToxiproxyClient, driven_proxy: ProxyInfo, upstream: Upstream
) -> None:
    with (
        connect(driven_proxy.port) as sock,
        client.toxic(driven_proxy, "timeout", attributes={"timeout": 200}, stream="upstream"),
    ):
        server = upstream.accept()
        started = time.monotonic()
        sock.sendall(b"dropped")
        assert closed_how(sock) == "eof"
        assert time.monotonic() - started >= 0.19
        assert recv_until_eof(server) == b""  # the data never reached the server


def test_timeout_applies_to_new_connections(client: ToxiproxyClient, echo_proxy: ProxyInfo) -> None:
    with (
        client.toxic(echo_proxy, "timeout", attributes={"timeout": 100}),
        connect(echo_proxy.port) as sock,
    ):
        sock.sendall(b"x")
        assert closed_how(sock) == "eof"


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_reset_peer_resets_both_sides(
    client: ToxiproxyClient, driven_proxy: ProxyInfo, upstream: Upstream, stream: Stream
) -> None:
    with (
        connect(driven_proxy.port) as sock,
        client.toxic(driven_proxy, "reset_peer", attributes={"timeout": 100}, stream=stream),
    ):
        server = upstream.accept()
        started = time.monotonic()
        (sock if stream == "upstream" else server).sendall(b"trigger")
        assert closed_how(sock) == "reset"
        assert time.monotonic() - started >= 0.09
        assert closed_how(server) == "reset"


def test_slicer_slices(
    client: ToxiproxyClient, driven_proxy: ProxyInfo, upstream: Upstream
) -> None:
    payload = random.randbytes(1000)
    attributes = {"average_size": 100, "size_variation": 0, "delay": 20_000}  # 20 ms apart
    with (
        connect(driven_proxy.port) as sock,
        client.toxic(driven_proxy, "slicer", attributes=attributes),
    ):
        server = upstream.accept()
        started = time.monotonic()
        server.sendall(payload)
        pieces: list[bytes] = []
        while sum(map(len, pieces)) < len(payload):
            pieces.append(sock.recv(65536))
        elapsed = time.monotonic() - started
    assert b"".join(pieces) == payload
    assert len(pieces) > 1
    assert elapsed >= 9 * 0.02  # at least ten slices, with a delay between each


def test_slicer_cuts_are_bounded() -> None:
    toxic = Toxic(
        name="s",
        type_=TOXIC_TYPES["slicer"],
        stream="downstream",
        toxicity=1.0,
        attributes={"average_size": 50, "size_variation": 20, "delay": 0},
        seq=0,
    )

    class FakePipe:  # all the slicing needs of a pipe: its random source
        rng = random.Random(7)

    for size in (1, 49, 70, 71, 1000, 65536):
        cuts = Slicer(toxic, FakePipe())._cuts(size)
        sizes = [b - a for a, b in itertools.pairwise(cuts)]
        assert cuts[0] == 0
        assert cuts[-1] == size
        assert all(0 < s <= 70 for s in sizes), (size, sizes)


@pytest.mark.parametrize("stream", ["upstream", "downstream"])
def test_limit_data_closes_after_the_limit(
    client: ToxiproxyClient, driven_proxy: ProxyInfo, upstream: Upstream, stream: Stream
) -> None:
    payload = random.randbytes(1000)
    with (
        connect(driven_proxy.port) as sock,
        client.toxic(driven_proxy, "limit_data", attributes={"bytes": 100}, stream=stream),
    ):
        server = upstream.accept()
        sender, receiver = (sock, server) if stream == "upstream" else (server, sock)
        sender.sendall(payload)
        assert recv_until_eof(receiver) == payload[:100]


def test_disabled_cuts_existing_and_refuses_new(
    client: ToxiproxyClient, echo_proxy: ProxyInfo
) -> None:
    with connect(echo_proxy.port) as sock:
        round_trip(sock)
        with client.disabled(echo_proxy) as down:
            assert down.enabled is False
            assert closed_how(sock) in ("eof", "reset")
            assert refused(echo_proxy.port)
        assert client.get_proxy(echo_proxy).enabled is True
    with connect(echo_proxy.port) as again:
        round_trip(again)


def test_toxicity_draws_per_connection(echo: EchoServer) -> None:
    # limit_data of 0 bytes closes a connection at its first byte: a cheap "was it hit?".
    with ServerThread(seed=1) as server, ToxiproxyClient(server.url) as client:
        proxy = client.create_proxy("coin", echo.address)
        client.add_toxic(
            proxy, "limit_data", attributes={"bytes": 0}, stream="upstream", toxicity=0.5
        )
        hit = 0
        for _ in range(40):
            with connect(proxy.port) as sock:
                sock.sendall(b"?")
                hit += not _echoed(sock)
        assert 0 < hit < 40


def _echoed(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b"?"  # b"" when the toxic closed the connection
    except ConnectionResetError:
        return False


def test_toxicity_zero_and_one(client: ToxiproxyClient, echo_proxy: ProxyInfo) -> None:
    with (
        client.toxic(echo_proxy, "latency", attributes={"latency": 60_000}, toxicity=0.0),
        connect(echo_proxy.port) as sock,
    ):
        assert round_trip(sock) < 30  # never drawn: the minute of latency does not apply
    with (
        client.toxic(echo_proxy, "limit_data", attributes={"bytes": 0}, stream="upstream"),
        connect(echo_proxy.port) as sock,
    ):
        sock.sendall(b"x")
        assert closed_how(sock) == "eof"


def test_toxics_chain_in_order(client: ToxiproxyClient, echo_proxy: ProxyInfo) -> None:
    with (
        connect(echo_proxy.port) as sock,
        client.toxic(echo_proxy, "latency", attributes={"latency": 100}, name="a"),
        client.toxic(echo_proxy, "latency", attributes={"latency": 100}, name="b"),
        client.toxic(
            echo_proxy, "latency", attributes={"latency": 100}, name="c", stream="upstream"
        ),
    ):
        assert round_trip(sock) >= 0.29
