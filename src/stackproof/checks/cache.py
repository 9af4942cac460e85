"""A look inside the stack's Redis cache: which keys a pattern matches and their TTLs.

redis-py (`redis.Redis.from_url`), straight to the Redis service, never through the fault
proxy. The URL means what it means to Redis clients: `redis://[user:password@]host:port/db`
logs in as that ACL user (no user: the default one), `rediss://` speaks TLS and verifies the
server's certificate (`ca_path`: the CA that signed it, when the system's do not).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError as RedisClientError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from stackproof.errors import PreconditionError

TIMEOUT_S = 5.0
SCAN_LIMIT = 10_000  # keys looked at, at most: a cache probe, not a dump
SCAN_BATCH = 500

Reply = Any  # what redis-py makes of a reply: str, int, bool, None, lists of them


class RedisError(PreconditionError):
    """The probe could not read the cache (unreachable, its login refused, an error reply):
    what the check needed did not hold, so its verdict is `error`, never `fail`."""


class RedisProbe:
    def __init__(self, url: str, *, ca_path: Path | str | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise RedisError(
                f"the cache's URL is {parts.scheme}://…: the probe speaks redis:// or rediss://"
            )
        self.address = f"{parts.hostname or '127.0.0.1'}:{parts.port or 6379}"
        tls = {"ssl_ca_certs": str(ca_path)} if parts.scheme == "rediss" and ca_path else {}
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=TIMEOUT_S,
            socket_connect_timeout=TIMEOUT_S,
            retry=Retry(NoBackoff(), 0),  # a probe reports what it met, at once
            decode_responses=True,
            encoding_errors="replace",
            **tls,
        )

    @contextlib.contextmanager
    def _reading(self) -> Iterator[None]:
        """redis-py's errors as RedisError, saying where; none of them holds a password."""
        try:
            yield
        except AuthenticationError as error:
            raise RedisError(
                f"Redis at {self.address} refused the probe's login: {error}"
            ) from None
        except RedisTimeoutError as error:
            raise RedisError(
                f"Redis at {self.address} did not answer within {TIMEOUT_S:g} s: {error}"
            ) from None
        except RedisConnectionError as error:
            raise RedisError(f"cannot reach Redis at {self.address}: {error}") from None
        except RedisClientError as error:
            raise RedisError(f"Redis at {self.address} answered an error: {error}") from None

    def call(self, *commands: tuple[str, ...]) -> list[Reply]:
        """Send the commands in one round trip; their replies in order."""
        with self._reading():
            pipeline = self._client.pipeline(transaction=False)
            for command in commands:
                pipeline.execute_command(*command)  # type: ignore[no-untyped-call]  # untyped in redis-py
            return list(pipeline.execute())

    def keys(self, pattern: str) -> list[str]:
        found: list[str] = []
        cursor, looked = 0, 0
        with self._reading():
            while True:
                cursor, batch = self._client.scan(cursor, match=pattern, count=SCAN_BATCH)
                found += [str(key) for key in batch]
                looked += SCAN_BATCH
                if cursor == 0 or looked >= SCAN_LIMIT:
                    return found

    def ttls(self, keys: list[str]) -> dict[str, int]:
        """Seconds left per key; -1: no expiry; -2: gone."""
        if not keys:
            return {}
        replies = self.call(*(("TTL", key) for key in keys))
        pairs = zip(keys, replies, strict=True)
        return {key: reply if isinstance(reply, int) else -2 for key, reply in pairs}

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> RedisProbe:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
