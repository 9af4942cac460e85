"""The relay itself: bytes arrive intact and in order, ends of stream and failures pass
through, and switching between the plain relay and the toxic path loses nothing."""

from __future__ import annotations

import asyncio
import hashlib
import random
import socket
import threading

import httpx
from toxiproxy_helpers import (
    DEADLINE_S,
    EchoServer,
    Upstream,
    closed_how,
    connect,
    recv_exactly,
    recv_until_eof,
    refused,
)

from stackproof.toxiproxy import ServerThread, ToxiproxyClient, ToxiproxyServer


def echo_through(port: int, payload: bytes) -> bytes:
    """Send `payload` while reading the echo, so neither side's buffers fill up and stall."""
    received = bytearray()

    def read(sock: socket.socket) -> None:
        received.extend(recv_exactly(sock, len(payload), timeout_s=60))

    with connect(port) as sock:
        reader = threading.Thread(target=read, args=(sock,))
        reader.start()
        sock.sendall(payload)
        reader.join(60)
    return bytes(received)


def test_large_transfer_is_intact(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("bulk", echo.address)
    payload = random.randbytes(8 * 1024 * 1024)
    assert (
        hashlib.sha256(echo_through(proxy.port, payload)).digest()
        == hashlib.sha256(payload).digest()
    )


def test_toxic_churn_mid_stream_loses_nothing(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("churn", echo.address)
    payload = random.randbytes(4 * 1024 * 1024)
    piece = 32 * 1024
    slicer = {"average_size": 3000, "size_variation": 1000, "delay": 0}
    changes = [
        lambda: client.add_toxic(proxy, "slicer", attributes=slicer, stream="upstream"),
        lambda: client.add_toxic(proxy, "latency", attributes={"latency": 1}),
        lambda: client.remove_toxic(proxy, "slicer_upstream"),
        lambda: client.remove_toxic(proxy, "latency_downstream"),
    ]
    received = bytearray()
    with connect(proxy.port) as sock:
        reader = threading.Thread(
            target=lambda: received.extend(recv_exactly(sock, len(payload), timeout_s=60))
        )
        reader.start()
        # Given a stream in flight, when toxics come and go between every piece of it...
        for i, offset in enumerate(range(0, len(payload), piece)):
            sock.sendall(payload[offset : offset + piece])
            changes[i % len(changes)]()
        reader.join(60)
    # ...then every byte still arrives, in order.
    assert bytes(received) == payload


def test_half_close_is_relayed(client: ToxiproxyClient, upstream: Upstream) -> None:
    proxy = client.create_proxy("half", upstream.address)
    with connect(proxy.port) as sock:
        server = upstream.accept()
        sock.sendall(b"request")
        sock.shutdown(socket.SHUT_WR)
        assert recv_until_eof(server) == b"request"
        server.sendall(b"response")
        server.close()
        assert recv_until_eof(sock) == b"response"


def test_half_close_through_toxics(client: ToxiproxyClient, upstream: Upstream) -> None:
    proxy = client.create_proxy("half", upstream.address)
    client.add_toxic(proxy, "latency", attributes={"latency": 10}, stream="upstream")
    client.add_toxic(proxy, "latency", attributes={"latency": 10})
    with connect(proxy.port) as sock:
        server = upstream.accept()
        sock.sendall(b"request")
        sock.shutdown(socket.SHUT_WR)
        assert recv_until_eof(server) == b"request"
        server.sendall(b"response")
        server.close()
        assert recv_until_eof(sock) == b"response"


def test_upstream_reset_closes_the_client(client: ToxiproxyClient, upstream: Upstream) -> None:
    proxy = client.create_proxy("rst", upstream.address)
    with connect(proxy.port) as sock:
        server = upstream.accept()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        server.close()
        assert closed_how(sock) in ("eof", "reset")


def test_dead_upstream_closes_the_client(client: ToxiproxyClient) -> None:
    with socket.create_server(("127.0.0.1", 0)) as gone:
        dead = f"127.0.0.1:{gone.getsockname()[1]}"
    proxy = client.create_proxy("dead", dead)
    with connect(proxy.port) as sock:
        assert closed_how(sock) in ("eof", "reset")


def test_upstream_by_name(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("named", f"localhost:{echo.port}")
    with connect(proxy.port) as sock:
        sock.sendall(b"hi")
        assert recv_exactly(sock, 2) == b"hi"


def test_delete_closes_connections_and_listener(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("gone", echo.address)
    with connect(proxy.port) as sock:
        sock.sendall(b"hi")
        recv_exactly(sock, 2)
        client.delete_proxy(proxy)
        assert closed_how(sock) in ("eof", "reset")
    assert refused(proxy.port)


def test_server_stop_closes_everything(echo: EchoServer) -> None:
    with ServerThread() as server, ToxiproxyClient(server.url) as client:
        proxy = client.create_proxy("p", echo.address)
        client.add_toxic(proxy, "latency", attributes={"latency": 60_000})
        sock = connect(proxy.port)
        sock.sendall(b"held")
    with sock:
        assert closed_how(sock, timeout_s=DEADLINE_S) in ("eof", "reset")
    assert refused(proxy.port)


def test_many_connections_at_once(client: ToxiproxyClient, echo: EchoServer) -> None:
    proxy = client.create_proxy("many", echo.address)
    socks = [connect(proxy.port) for _ in range(50)]
    try:
        for i, sock in enumerate(socks):
            sock.sendall(b"%03d" % i)
        for i, sock in enumerate(socks):
            assert recv_exactly(sock, 3) == b"%03d" % i
    finally:
        for sock in socks:
            sock.close()


def test_embedded_in_a_running_loop(echo: EchoServer) -> None:
    async def scenario() -> bytes:
        async with ToxiproxyServer(port=0) as server:
            async with httpx.AsyncClient(base_url=server.url, trust_env=False) as http:
                body = {"name": "e", "upstream": echo.address, "listen": "127.0.0.1:0"}
                listen = (await http.post("/proxies", json=body)).json()["listen"]
            reader, writer = await asyncio.open_connection("127.0.0.1", int(listen.split(":")[1]))
            writer.write(b"in-loop")
            data = await asyncio.wait_for(reader.readexactly(7), DEADLINE_S)
            writer.close()
            await writer.wait_closed()
            return data

    assert asyncio.run(scenario()) == b"in-loop"
