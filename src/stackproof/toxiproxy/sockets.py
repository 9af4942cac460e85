"""Non-blocking socket helpers for the data plane: bind, dial, and wait for writability.

These use the loop's reader/writer callbacks directly rather than `loop.sock_connect` or
`loop.sock_sendall`, whose cleanup runs a loop iteration after a cancel: by then the
socket may be closed and its descriptor reused by a new connection.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import os
import socket

from stackproof.toxiproxy.addresses import HostPort, ListenAddress

LISTEN_BACKLOG = 1024


def resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def bind_listener(address: ListenAddress) -> socket.socket:
    """A non-blocking listening socket (SO_REUSEADDR, as Go sets on every listener)."""
    sock = socket.socket(address.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address.sockaddr())
        sock.listen(LISTEN_BACKLOG)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def tune(sock: socket.socket) -> None:
    """Non-blocking, and no Nagle delay: Go's TCP connections default to TCP_NODELAY."""
    sock.setblocking(False)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


async def dial(address: str) -> socket.socket:
    """Connect to `host:port`, trying each resolved address in turn, like Go's `net.Dial`."""
    target = HostPort.parse(address)
    candidates: list[tuple[socket.AddressFamily, tuple[str, int]]]
    try:
        ip = ipaddress.ip_address(target.host)
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(
            target.host, target.port, type=socket.SOCK_STREAM
        )
        candidates = [(info[0], (str(info[4][0]), int(info[4][1]))) for info in infos]
    else:
        family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
        candidates = [(family, (str(ip), target.port))]
    failure: OSError = OSError(f"no address found for {address}")
    for family, sockaddr in candidates:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            tune(sock)
            await _connect(sock, sockaddr)
        except OSError as error:
            sock.close()
            failure = error
        except BaseException:
            sock.close()
            raise
        else:
            return sock
    raise failure


async def _connect(sock: socket.socket, sockaddr: tuple[str, int]) -> None:
    code = sock.connect_ex(sockaddr)
    if code in (errno.EINPROGRESS, errno.EAGAIN):
        await wait_writable(sock)
        code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    if code != 0:
        raise OSError(code, f"dial {sockaddr[0]}:{sockaddr[1]}: {os.strerror(code)}")


async def wait_writable(sock: socket.socket) -> None:
    """Wait until `sock` is writable. If the socket is closed meanwhile (a cancel), the
    registration was removed by whoever closed it, so it is left alone here."""
    loop = asyncio.get_running_loop()
    fd = sock.fileno()
    future: asyncio.Future[None] = loop.create_future()
    loop.add_writer(fd, resolve, future)
    try:
        await future
    finally:
        if sock.fileno() == fd:
            loop.remove_writer(fd)
