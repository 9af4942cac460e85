"""A look inside the stack's Redis cache: which keys a pattern matches and their TTLs.

RESP spoken directly over one connection (no client library), straight to the Redis
service, never through the fault proxy.
"""

from __future__ import annotations

import socket
from typing import BinaryIO
from urllib.parse import unquote, urlsplit

TIMEOUT_S = 5.0
SCAN_LIMIT = 10_000  # keys looked at, at most: a cache probe, not a dump

Reply = str | int | None | list["Reply"]


class RedisError(RuntimeError):
    """Redis answered an error, or something unreadable."""


def _encode(*words: str) -> bytes:
    parts = [word.encode() for word in words]
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


class RedisProbe:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self.password = unquote(parts.password or "")
        self.database = (parts.path or "/0").strip("/") or "0"

    def call(self, *commands: tuple[str, ...]) -> list[Reply]:
        """Send the commands on one authenticated connection; their replies in order."""
        setup: list[tuple[str, ...]] = [("SELECT", self.database)]
        if self.password:
            setup.insert(0, ("AUTH", self.password))
        sent = [*setup, *commands]
        with socket.create_connection(self.address, TIMEOUT_S) as connection:
            connection.sendall(b"".join(_encode(*command) for command in sent))
            stream = connection.makefile("rb")
            replies = [self._read(stream) for _ in sent]
        return replies[len(setup) :]

    def _read(self, stream: BinaryIO) -> Reply:
        line = stream.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        if kind == b"+":
            return rest.decode()
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = stream.read(size + 2)
            return data[:-2].decode(errors="replace")
        if kind == b"*":
            return [self._read(stream) for _ in range(int(rest))]
        raise RedisError(f"unreadable reply {line[:40]!r}")

    def keys(self, pattern: str) -> list[str]:
        found: list[str] = []
        cursor = "0"
        looked = 0
        while True:
            (reply,) = self.call(("SCAN", cursor, "MATCH", pattern, "COUNT", "500"))
            if not isinstance(reply, list) or len(reply) != 2 or not isinstance(reply[1], list):
                raise RedisError("SCAN answered something unexpected")
            cursor = str(reply[0])
            found += [str(key) for key in reply[1]]
            looked += 500
            if cursor == "0" or looked >= SCAN_LIMIT:
                return found

    def ttls(self, keys: list[str]) -> dict[str, int]:
        """Seconds left per key; -1: no expiry; -2: gone."""
        if not keys:
            return {}
        replies = self.call(*(("TTL", key) for key in keys))
        pairs = zip(keys, replies, strict=True)
        return {key: reply if isinstance(reply, int) else -2 for key, reply in pairs}
