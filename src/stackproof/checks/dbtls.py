"""R-TLS-8 and R-HOST-6: the database links a service is configured with, whether each leaves
the host, whether it asks for TLS, and what the server does on the wire.

A link *leaves the host* when its target is not the host itself: not a Unix socket, not a
loopback address or `localhost`, and not one of the host's own addresses. (A database on
another machine — a managed database, a second VM, a container on another host — is what the
requirement is about.) Such a link must say so in its DSN (`sslmode=require`, `verify-ca` or
`verify-full`; `rediss://`), and the server must speak TLS: PostgreSQL answers the
SSLRequest with `S` and completes a handshake; Redis completes a handshake and answers a
command inside it. The wire is reached as the host reaches it (`HostAccess.forward`).

DSNs are read as URLs (`postgresql://`, `postgres://`, `redis://`, `rediss://`); libpq's
`key=value` strings are not parsed.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from stackproof.backends.values import Endpoint

SSL_REQUEST = struct.pack("!ii", 8, 80877103)
TLS_SSLMODES = frozenset({"require", "verify-ca", "verify-full"})
WIRE_TIMEOUT_S = 5.0
Kind = Literal["postgres", "redis"]
SCHEMES: dict[str, Kind] = {
    "postgres": "postgres",
    "postgresql": "postgres",
    "redis": "redis",
    "rediss": "redis",
}
DEFAULT_PORTS: dict[Kind, int] = {"postgres": 5432, "redis": 6379}


@dataclass(frozen=True, slots=True)
class DatabaseLink:
    """One DSN of one service."""

    service: str
    variable: str
    kind: Kind
    scheme: str
    host: str  # empty: a Unix socket
    port: int
    params: Mapping[str, str]
    user: str | None
    password: str | None
    database: str | None

    @property
    def label(self) -> str:
        return (
            f"{self.service} {self.variable} ({self.scheme}://{self.host or 'socket'}:{self.port})"
        )

    def leaves(self, own_addresses: Iterable[str]) -> bool:
        return not on_host(self.host, own_addresses)

    def config_problem(self) -> str | None:
        """Why the DSN does not ask for TLS, or None when it does."""
        if self.kind == "redis":
            return None if self.scheme == "rediss" else "redis:// is plain text; use rediss://"
        mode = self.params.get("sslmode")
        if mode in TLS_SSLMODES:
            return None
        said = (
            "no sslmode (libpq then prefers TLS but accepts plain text)"
            if mode is None
            else f"sslmode={mode}"
        )
        return f"{said}; use sslmode=verify-full (or require)"

    @property
    def ca_file(self) -> str | None:
        """The CA the DSN trusts, as a path on the host."""
        return self.params.get("sslrootcert" if self.kind == "postgres" else "ssl_ca_certs")


def parse_link(service: str, variable: str, value: str) -> DatabaseLink | None:
    parts = urlsplit(value.strip())
    kind = SCHEMES.get(parts.scheme)
    if kind is None:
        return None
    params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = unquote(parts.hostname or "") or params.get("host", "")
    if host.startswith("/"):
        host = ""
    try:
        port = parts.port or DEFAULT_PORTS[kind]
    except ValueError:
        port = DEFAULT_PORTS[kind]
    return DatabaseLink(
        service=service,
        variable=variable,
        kind=kind,
        scheme=parts.scheme,
        host=host,
        port=port,
        params=params,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        database=parts.path.lstrip("/") or None,
    )


def database_links(environments: Mapping[str, Mapping[str, str]]) -> list[DatabaseLink]:
    """Every database DSN in the services' environments."""
    found = []
    for service, environment in sorted(environments.items()):
        for variable, value in sorted(environment.items()):
            link = parse_link(service, variable, value)
            if link is not None:
                found.append(link)
    return found


def on_host(host: str, own_addresses: Iterable[str]) -> bool:
    if not host or host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host in set(own_addresses)
    return address.is_loopback or str(address) in set(own_addresses)


@dataclass(frozen=True, slots=True)
class Wire:
    """What the server did on the wire."""

    tls: bool
    detail: str  # the protocol and cipher, or what it answered instead
    verified: bool = False  # the certificate was checked against the DSN's CA and name


def _context(ca_pem: bytes | None) -> ssl.SSLContext:
    if ca_pem is None:  # nothing to verify against: the handshake alone is what is judged
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context(cadata=ca_pem.decode("ascii"))


def _negotiated(tls: ssl.SSLSocket) -> str:
    cipher = tls.cipher()
    return f"{tls.version()} {cipher[0] if cipher else '?'}"


def _handshake(raw: socket.socket, server_name: str, ca_pem: bytes | None) -> ssl.SSLSocket:
    return _context(ca_pem).wrap_socket(raw, server_hostname=server_name or None)


def postgres_wire(endpoint: Endpoint, server_name: str, ca_pem: bytes | None) -> Wire:
    with socket.create_connection((endpoint.host, endpoint.port), timeout=WIRE_TIMEOUT_S) as raw:
        raw.sendall(SSL_REQUEST)
        answer = raw.recv(1)
        if answer != b"S":
            said = {b"N": "'N' (no TLS)", b"": "nothing (closed)"}.get(answer, repr(answer))
            return Wire(False, f"the SSLRequest was answered with {said}")
        try:
            tls = _handshake(raw, server_name, ca_pem)
        except (ssl.SSLError, OSError) as error:
            return Wire(False, f"'S', then the TLS handshake failed: {error}")
        with tls:
            return Wire(True, _negotiated(tls), ca_pem is not None)


def redis_wire(endpoint: Endpoint, server_name: str, ca_pem: bytes | None) -> Wire:
    with socket.create_connection((endpoint.host, endpoint.port), timeout=WIRE_TIMEOUT_S) as raw:
        try:
            tls = _handshake(raw, server_name, ca_pem)
        except (ssl.SSLError, OSError) as error:
            return Wire(False, f"no TLS handshake: {error}")
        with tls:
            tls.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = tls.recv(64)
            if reply[:1] not in (b"+", b"-"):
                return Wire(False, f"a handshake, but no Redis reply inside it ({reply[:20]!r})")
            return Wire(True, _negotiated(tls), ca_pem is not None)


def wire(link: DatabaseLink, endpoint: Endpoint, ca_pem: bytes | None) -> Wire:
    probe = postgres_wire if link.kind == "postgres" else redis_wire
    return probe(endpoint, link.host, ca_pem)


def server_version_num(link: DatabaseLink, endpoint: Endpoint, ca_file: Path | None) -> int:
    """`server_version_num` asked of the server itself, through `endpoint` (as the host reaches
    it), with the DSN's own credentials and TLS settings (the CA copied to `ca_file`)."""
    import psycopg  # noqa: PLC0415 - only the host checks need a database client

    options: dict[str, str | int] = {
        "host": link.host or "localhost",
        "hostaddr": endpoint.host,
        "port": endpoint.port,
        "dbname": link.database or "postgres",
        "connect_timeout": int(WIRE_TIMEOUT_S),
        "sslmode": link.params.get("sslmode", "prefer"),
    }
    if link.user:
        options["user"] = link.user
    if link.password:
        options["password"] = link.password
    if ca_file is not None:
        options["sslrootcert"] = str(ca_file)
    with psycopg.connect(**options) as connection:  # type: ignore[arg-type]
        row = connection.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(row[0])
