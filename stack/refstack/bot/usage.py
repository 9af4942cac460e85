"""One usage row per handled interaction, written exactly once (R-RES-3).

The interaction's ID is the row's key, and the insert does nothing when the key exists, so a
write may be retried freely: after a lost acknowledgement (the row landed, the answer did
not come back) the retry is a no-op instead of a duplicate. Accepted rows wait in a queue
and are written in order by one task that retries each until it lands, reconnecting with a
capped backoff, so a database outage delays writes and loses none (while the process runs).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
from dataclasses import dataclass

import psycopg

log = logging.getLogger("usage")
INSERT = (
    "INSERT INTO bot.usage (interaction_id, command, user_hash) VALUES (%s, %s, %s) "
    "ON CONFLICT (interaction_id) DO NOTHING"
)
CONNECT_TIMEOUT_S = 2  # libpq's minimum
FIRST_BACKOFF_S = 0.1
MAX_BACKOFF_S = 1.0


@dataclass(frozen=True, slots=True)
class UsageRow:
    interaction_id: str
    command: str
    user_hash: str


def user_hash(salt: str, user_id: str) -> str:
    """A keyed hash: usage can be counted per user without storing who the user is."""
    return hmac.new(salt.encode(), user_id.encode(), hashlib.sha256).hexdigest()


class UsageWriter:
    def __init__(self, database_url: str, attempt_timeout_s: float) -> None:
        self.database_url = database_url
        self.attempt_timeout_s = attempt_timeout_s
        self._queue: asyncio.Queue[UsageRow] = asyncio.Queue()
        self._connection: psycopg.AsyncConnection[tuple[object, ...]] | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def record(self, row: UsageRow) -> None:
        """Accept a row; it will be written once, however many attempts that takes."""
        self._queue.put_nowait(row)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="usage-writer")

    async def stop(self, drain_s: float) -> None:
        """Give queued rows `drain_s` to land, then stop."""
        try:
            async with asyncio.timeout(drain_s):
                await self._queue.join()
        except TimeoutError:
            log.warning("stopping with %d usage rows unwritten", self._queue.qsize())
        if self._task is not None:
            self._task.cancel()
        await self._disconnect()

    async def _run(self) -> None:
        while True:
            row = await self._queue.get()
            await self._write_until_landed(row)
            self._queue.task_done()

    async def _write_until_landed(self, row: UsageRow) -> None:
        backoff = FIRST_BACKOFF_S
        while True:
            try:
                async with asyncio.timeout(self.attempt_timeout_s):
                    await self._insert(row)
            except (psycopg.Error, OSError, TimeoutError) as error:
                log.warning(
                    "usage write %s failed (%s); retrying in %.1f s",
                    row.interaction_id,
                    type(error).__name__,
                    backoff,
                )
                await self._disconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
            else:
                return

    async def _insert(self, row: UsageRow) -> None:
        if self._connection is None or self._connection.closed:
            # No server-side prepared statements: psycopg would wait for the PREPARE's answer
            # before sending the insert, and transaction poolers (pgbouncer) refuse them.
            self._connection = await psycopg.AsyncConnection.connect(
                self.database_url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                prepare_threshold=None,
            )
        await self._connection.execute(INSERT, (row.interaction_id, row.command, row.user_hash))

    async def _disconnect(self) -> None:
        """Drop the connection: after a failure its state is unknown."""
        connection, self._connection = self._connection, None
        if connection is not None and not connection.closed:
            connection.pgconn.finish()  # closes the socket at once; close() would talk first
