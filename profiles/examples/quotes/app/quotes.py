"""quotes: a small Starlette API that keeps quotes in PostgreSQL.

GET / and GET /quotes list them, POST /quotes adds one ({"text": ..., "by": ...}).
/healthz says the process serves; /readyz asks PostgreSQL (2 s at most) and answers 503 with
Retry-After while it cannot. Every request logs its X-Request-ID (nginx sets one).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys

import psycopg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if not DATABASE_URL:
    sys.exit("quotes: DATABASE_URL is not set")
READY_TIMEOUT_S = 2.0
SCHEMA = "CREATE TABLE IF NOT EXISTS quotes (id serial PRIMARY KEY, text text NOT NULL, by text)"

logging.basicConfig(level=logging.INFO, format="%(asctime)s quotes %(message)s")
log = logging.getLogger("quotes")


async def _connect() -> psycopg.AsyncConnection:
    return await psycopg.AsyncConnection.connect(DATABASE_URL, connect_timeout=2, autocommit=True)


async def _logged(request: Request, status: int) -> None:
    request_id = request.headers.get("x-request-id", "-")
    log.info("%s %s %s request_id=%s", request.method, request.url.path, status, request_id)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "alive"})


async def readyz(request: Request) -> JSONResponse:
    try:
        async with asyncio.timeout(READY_TIMEOUT_S):
            async with await _connect() as connection:
                await connection.execute("SELECT 1")
    except (TimeoutError, psycopg.Error):
        return JSONResponse(
            {"status": "unavailable", "checks": {"postgres": "down"}},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    return JSONResponse({"status": "ready", "checks": {"postgres": "ok"}})


async def list_quotes(request: Request) -> JSONResponse:
    try:
        async with await _connect() as connection:
            await connection.execute(SCHEMA)
            rows = await (await connection.execute("SELECT text, by FROM quotes")).fetchall()
    except psycopg.Error:
        await _logged(request, 503)
        return JSONResponse({"error": "the database is unavailable"}, status_code=503)
    await _logged(request, 200)
    return JSONResponse({"quotes": [{"text": t, "by": b} for t, b in rows]})


async def add_quote(request: Request) -> JSONResponse:
    try:
        body = await request.json()
        text, by = str(body["text"]), str(body.get("by") or "")
    except (ValueError, KeyError, TypeError):
        await _logged(request, 400)
        return JSONResponse({"error": 'send {"text": ..., "by": ...}'}, status_code=400)
    try:
        async with await _connect() as connection:
            await connection.execute(SCHEMA)
            await connection.execute("INSERT INTO quotes (text, by) VALUES (%s, %s)", (text, by))
    except psycopg.Error:
        await _logged(request, 503)
        return JSONResponse({"error": "the database is unavailable"}, status_code=503)
    await _logged(request, 201)
    return JSONResponse({"added": True}, status_code=201)


async def not_found(request: Request, exc: Exception) -> JSONResponse:
    await _logged(request, 404)
    return JSONResponse({"error": "not found"}, status_code=404)


app = Starlette(
    routes=[
        Route("/", list_quotes),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/quotes", list_quotes, methods=["GET"]),
        Route("/quotes", add_quote, methods=["POST"]),
    ],
    exception_handlers={404: not_found},
)
