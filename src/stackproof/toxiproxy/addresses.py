"""Listen and upstream addresses: `host:port` parsing, resolution, and the loopback rule.

stackproof only ever listens on loopback, so a listen address that resolves elsewhere (or an
empty host, which means every interface) is refused unless the server was started with
`allow_non_loopback`. Upstreams are checked for form only: they are dialled per connection.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass

from stackproof.toxiproxy.errors import BAD_REQUEST_BODY, ApiError

MAX_PORT = 65535


@dataclass(frozen=True, slots=True)
class HostPort:
    """`host:port` as Go's `net.SplitHostPort` reads it; IPv6 hosts are bracketed."""

    host: str
    port: int

    def __post_init__(self) -> None:
        if not 0 <= self.port <= MAX_PORT:
            raise ValueError(f"port {self.port} out of range")

    @classmethod
    def parse(cls, text: str) -> HostPort:
        if text.startswith("["):
            host, sep, rest = text[1:].partition("]")
            if not sep or not rest.startswith(":"):
                raise ValueError(f"{text!r}: expected [host]:port")
            port_text = rest[1:]
        else:
            host, sep, port_text = text.rpartition(":")
            if not sep:
                raise ValueError(f"{text!r}: missing port in address")
            if ":" in host:
                raise ValueError(f"{text!r}: too many colons in address (bracket IPv6 hosts)")
        if not port_text.isdigit():
            raise ValueError(f"{text!r}: port must be a number")
        return cls(host, int(port_text))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """A resolved address to bind; `str()` matches Go's `listener.Addr().String()`."""

    family: socket.AddressFamily
    ip: str
    port: int

    def with_port(self, port: int) -> ListenAddress:
        return ListenAddress(self.family, self.ip, port)

    def sockaddr(self) -> tuple[str, int]:
        return (self.ip, self.port)

    def __str__(self) -> str:
        return str(HostPort(self.ip, self.port))


async def resolve_listen(text: str, *, allow_non_loopback: bool) -> ListenAddress:
    """Resolve a listen address, preferring IPv4 for names (as Go does for `localhost`)."""
    try:
        wanted = HostPort.parse(text)
    except ValueError as error:
        raise BAD_REQUEST_BODY.joined(f"invalid listen address: {error}") from None
    if not wanted.host:
        if not allow_non_loopback:
            raise _not_loopback(text)
        return ListenAddress(socket.AF_INET, "0.0.0.0", wanted.port)  # noqa: S104 - opted in
    try:
        ip = ipaddress.ip_address(wanted.host)
    except ValueError:
        ip = await _lookup(wanted.host, text)
    if not (ip.is_loopback or allow_non_loopback):
        raise _not_loopback(text)
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    return ListenAddress(family, str(ip), wanted.port)


def check_upstream(text: str) -> str:
    """Check an upstream's form; it is resolved when a connection is dialled, like Go's Dial."""
    try:
        address = HostPort.parse(text)
    except ValueError as error:
        raise BAD_REQUEST_BODY.joined(f"invalid upstream address: {error}") from None
    if not address.host or address.port == 0:
        raise BAD_REQUEST_BODY.joined(f"invalid upstream address: {text!r} needs host and port")
    return text


async def _lookup(host: str, text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError as error:
        raise BAD_REQUEST_BODY.joined(f"invalid listen address {text!r}: {error}") from None
    ips = [ipaddress.ip_address(info[4][0]) for info in infos]
    return min(ips, key=lambda ip: ip.version)


def _not_loopback(text: str) -> ApiError:
    return BAD_REQUEST_BODY.joined(
        f"listen address {text!r} is not a loopback address; this server only listens on "
        "loopback (use e.g. 127.0.0.1:0, or start it with --allow-non-loopback)"
    )
