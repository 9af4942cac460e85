"""Where handled commands write: one row per interaction ID, counted straight from PostgreSQL.

The harness connects to the database directly (never through the fault proxy), with the
profile's `count_query`, so it sees what landed whatever the links are doing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable

import psycopg

from stackproof.backends.base import Stack
from stackproof.checks.commands import CommandUnavailableError, command_settings
from stackproof.errors import ServiceStartError
from stackproof.readiness import Check, wait_for

CONNECT_TIMEOUT_S = 5
POLL_S = 0.1


class WriteLedger:
    def __init__(self, stack: Stack) -> None:
        settings = command_settings(stack)
        if settings.database is None or settings.count_query is None:
            raise CommandUnavailableError("the profile's command names no database writes")
        self.query = settings.count_query
        self.url = stack.service(settings.database).connection_url()

    def counts(self, keys: Iterable[str]) -> dict[str, int]:
        wanted = list(dict.fromkeys(keys))
        found: dict[str, int] = {}
        with psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as db:
            for key in wanted:
                row = db.execute(self.query.encode(), [key]).fetchone()
                found[key] = int(row[0]) if row else 0
        return found

    def await_landed(self, keys: Iterable[str], timeout_s: float) -> tuple[dict[str, int], float]:
        """Wait until every key has a row, or the deadline; (the last counts, seconds)."""
        landed = RowsLanded(self, list(keys))
        started = time.monotonic()
        with contextlib.suppress(ServiceStartError):  # the counts say what is missing
            wait_for(landed, timeout_s=timeout_s, what="the accepted writes", interval_s=POLL_S)
        return landed.last, time.monotonic() - started


class RowsLanded:
    """A condition: every key has at least one row."""

    description = "every accepted write has landed"

    def __init__(self, ledger: WriteLedger, keys: list[str]) -> None:
        self.ledger = ledger
        self.keys = keys
        self.last: dict[str, int] = dict.fromkeys(keys, 0)

    def check(self) -> Check:
        self.last = self.ledger.counts(self.keys)
        missing = [key for key, count in self.last.items() if count < 1]
        return Check(not missing, f"{len(missing)} of {len(self.keys)} not landed")
