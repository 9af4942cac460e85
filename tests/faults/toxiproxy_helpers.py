"""Sockets for the fault-proxy tests: an echo upstream, an upstream the test drives, and
reads that end at a deadline on the monotonic clock. Everything here closes what it opens."""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
import time
from types import TracebackType

DEADLINE_S = 10.0  # the longest any single wait may take before the test fails


class EchoServer:
    """Echoes every byte back on each connection; one selector thread serves them all."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._conns: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._run, name="echo-upstream", daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        while True:
            for key, _ in self._selector.select():
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self._wake_r:
                    return
                if sock is self._listener:
                    with contextlib.suppress(BlockingIOError):
                        conn, _ = self._listener.accept()
                        conn.setblocking(True)  # echo writes block; reads are selected
                        self._conns.add(conn)
                        self._selector.register(conn, selectors.EVENT_READ)
                    continue
                self._echo(sock)

    def _echo(self, conn: socket.socket) -> None:
        try:
            data = conn.recv(1 << 16)
            if data:
                conn.sendall(data)
                return
        except OSError:
            pass
        self._selector.unregister(conn)
        self._conns.discard(conn)
        conn.close()

    def close(self) -> None:
        self._wake_w.send(b"x")
        self._thread.join(DEADLINE_S)
        for sock in (*self._conns, self._listener, self._wake_r, self._wake_w):
            sock.close()
        self._selector.close()

    def __enter__(self) -> EchoServer:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Upstream:
    """An upstream the test drives: `accept()` hands over each connection the proxy dials."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._accepted: list[socket.socket] = []

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def accept(self, timeout_s: float = DEADLINE_S) -> socket.socket:
        self._listener.settimeout(timeout_s)
        conn, _ = self._listener.accept()
        conn.settimeout(timeout_s)
        self._accepted.append(conn)
        return conn

    def close(self) -> None:
        for sock in (*self._accepted, self._listener):
            sock.close()

    def __enter__(self) -> Upstream:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def connect(port: int, timeout_s: float = DEADLINE_S) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def recv_exactly(sock: socket.socket, size: int, timeout_s: float = DEADLINE_S) -> bytes:
    deadline = time.monotonic() + timeout_s
    data = bytearray()
    while len(data) < size:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise AssertionError(f"EOF after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def recv_until_eof(sock: socket.socket, timeout_s: float = DEADLINE_S) -> bytes:
    deadline = time.monotonic() + timeout_s
    data = bytearray()
    while True:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        chunk = sock.recv(1 << 16)
        if not chunk:
            return bytes(data)
        data += chunk


def closed_how(sock: socket.socket, timeout_s: float = DEADLINE_S) -> str:
    """Read until the peer goes: "eof" (FIN) or "reset" (RST). Data on the way is skipped."""
    try:
        recv_until_eof(sock, timeout_s)
    except ConnectionResetError:
        return "reset"
    return "eof"


def nothing_arrives(sock: socket.socket, within_s: float) -> bool:
    """True if no byte and no EOF arrive within `within_s` (the wait is the observation)."""
    sock.settimeout(within_s)
    try:
        sock.recv(1)
    except TimeoutError:
        return True
    return False


def refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S):
            return False
    except ConnectionRefusedError:
        return True
