"""The linking records: OAuth states in flight and the Discord ↔ AniList links (R-OAUTH-2, 3).

A state is 32 bytes from `secrets`, valid for 300 s, and consumed by one atomic UPDATE: of
two callbacks racing with one state, exactly one gets the row back.
"""

from __future__ import annotations

import secrets

import psycopg

STATE_LIFETIME_S = 300
CONNECT_TIMEOUT_S = 2

CREATE_STATE = """
INSERT INTO auth.oauth_state (state, discord_user_id, expires_at)
VALUES (%s, %s, now() + make_interval(secs => %s))
"""
CONSUME_STATE = """
UPDATE auth.oauth_state SET used_at = now()
WHERE state = %s AND used_at IS NULL AND expires_at > now()
RETURNING discord_user_id
"""
LINK = """
INSERT INTO auth.oauth_credentials
    (discord_user_id, anilist_user_id, anilist_username, access_token)
VALUES (%s, %s, %s, %s)
ON CONFLICT (discord_user_id) DO UPDATE SET
    anilist_user_id = EXCLUDED.anilist_user_id,
    anilist_username = EXCLUDED.anilist_username,
    access_token = EXCLUDED.access_token,
    created_at = now()
"""


class AlreadyLinkedError(Exception):
    """The AniList account is linked to another Discord user."""


class Links:
    def __init__(self, database_url: str | None) -> None:
        self.database_url = database_url

    async def _connect(self) -> psycopg.AsyncConnection[tuple[object, ...]]:
        if self.database_url is None:
            raise psycopg.OperationalError("no database configured (DATABASE_URL)")
        return await psycopg.AsyncConnection.connect(
            self.database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
        )

    async def new_state(self, discord_user_id: str) -> str:
        state = secrets.token_urlsafe(32)
        async with await self._connect() as connection:
            await connection.execute(CREATE_STATE, (state, int(discord_user_id), STATE_LIFETIME_S))
        return state

    async def consume_state(self, state: str) -> int | None:
        """The Discord user of a live, unused state, which is used up by this call."""
        async with await self._connect() as connection:
            cursor = await connection.execute(CONSUME_STATE, (state,))
            row = await cursor.fetchone()
        return int(str(row[0])) if row is not None else None

    async def link(
        self, discord_user_id: int, anilist_user_id: int, anilist_name: str, sealed_token: bytes
    ) -> None:
        async with await self._connect() as connection:
            try:
                await connection.execute(
                    LINK, (discord_user_id, anilist_user_id, anilist_name, sealed_token)
                )
            except psycopg.errors.UniqueViolation:
                raise AlreadyLinkedError from None

    async def count(self) -> int:
        async with await self._connect() as connection:
            cursor = await connection.execute("SELECT count(*) FROM auth.oauth_credentials")
            row = await cursor.fetchone()
        return int(str(row[0])) if row is not None else 0
