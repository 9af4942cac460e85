"""The drill canary: timestamped rows written and read back through the service.

    POST /canary          {"seq": 7, "written_at": "2026-11-23T12:00:00.123+00:00"} → 201
    GET  /canary/latest   → {"seq": 7, "written_at": "...", "count": 7}, 404 while empty

Both need `X-Canary-Token` (compared in constant time). Without `CANARY_TOKEN` in the
environment the routes are not mounted at all: the canary never runs open. The writes share
one connection that is made again when the database went away (a restore drill destroys it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hmac
from typing import Any

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from refstack.common.errors import error_body
from refstack.common.settings import optional, required

HEADER = "X-Canary-Token"


class _SharedConnection:
    """One autocommit connection, made on first use and again after it broke."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._connection: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    async def fetch(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        async with self._lock:
            for attempt in (1, 2):
                if self._connection is None or self._connection.closed:
                    self._connection = await psycopg.AsyncConnection.connect(
                        self.url, connect_timeout=2, autocommit=True
                    )
                try:
                    cursor = await self._connection.execute(query.encode(), params)
                    return await cursor.fetchall() if cursor.description else []
                except psycopg.OperationalError:
                    await self._connection.close()
                    self._connection = None
                    if attempt == 2:
                        raise
        return []


def canary_routes() -> list[BaseRoute]:
    token = optional("CANARY_TOKEN")
    if token is None:
        return []
    database = _SharedConnection(required("DATABASE_URL"))

    def authorised(request: Request) -> bool:
        given = request.headers.get(HEADER, "")
        return hmac.compare_digest(given.encode(), token.encode())

    async def write(request: Request) -> JSONResponse:
        if not authorised(request):
            return error_body(401, "missing or wrong canary token")
        try:
            body = await request.json()
            seq = int(body["seq"])
            written_at = dt.datetime.fromisoformat(str(body["written_at"]))
        except (ValueError, KeyError, TypeError):
            return error_body(400, "expected {seq, written_at}")
        # A database that does not answer (OperationalError) is the 503 of errors.py, reported.
        await database.fetch(
            "INSERT INTO bot.drill_canary (seq, written_at) VALUES (%s, %s) "
            "ON CONFLICT (seq) DO NOTHING",
            (seq, written_at),
        )
        return JSONResponse({"seq": seq}, status_code=201)

    async def latest(request: Request) -> JSONResponse:
        if not authorised(request):
            return error_body(401, "missing or wrong canary token")
        rows = await database.fetch(
            "SELECT seq, written_at, count(*) OVER () FROM bot.drill_canary "
            "ORDER BY seq DESC LIMIT 1"
        )
        if not rows:
            return error_body(404, "no canary yet")
        seq, written_at, count = rows[0]
        return JSONResponse({"seq": seq, "written_at": written_at.isoformat(), "count": count})

    return [
        Route("/canary", write, methods=["POST"]),
        Route("/canary/latest", latest, methods=["GET"]),
    ]
