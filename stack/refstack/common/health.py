"""Liveness and readiness (R-HLT-1, 2, 4, 5).

Liveness looks at nothing but the process. Readiness asks every dependency at once, each
with a deadline: hard ones (PostgreSQL and its migrated schema) decide the status, soft ones
(the Redis cache) only show up as a degradation. A failing check is named, never explained
with an exception text: those carry connection targets.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import redis.asyncio as aioredis
from psycopg import sql
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from refstack.common.migrations import expected_versions, ledger

log = logging.getLogger("health")
RETRY_AFTER_S = "5"

# A probe answers the status of each check it covers: "ok" or a one-word reason.
Probe = Callable[[], Awaitable[dict[str, str]]]


@dataclass(frozen=True, slots=True)
class Dependency:
    name: str
    checks: tuple[str, ...]  # what the probe reports on, for when it cannot answer
    probe: Probe
    hard: bool


def postgres_dependency(database_url: str, schema: str, migrations: Path) -> Dependency:
    expected = expected_versions(migrations)

    async def probe() -> dict[str, str]:
        async with await psycopg.AsyncConnection.connect(
            database_url, connect_timeout=2, autocommit=True
        ) as connection:
            cursor = await connection.execute(
                sql.SQL("SELECT version FROM {}").format(ledger(schema))
            )
            applied = {row[0] for row in await cursor.fetchall()}
        return {"postgres": "ok", "migrations": "ok" if expected <= applied else "pending"}

    return Dependency("postgres", ("postgres", "migrations"), probe, hard=True)


def redis_dependency(client: aioredis.Redis) -> Dependency:
    async def probe() -> dict[str, str]:
        await client.ping()
        return {"redis": "ok"}

    return Dependency("redis", ("redis",), probe, hard=False)


def file_dependency(name: str, path: Path, hard: bool) -> Dependency:
    """A file the service reads (credentials): there, readable and a JSON object."""

    async def probe() -> dict[str, str]:
        text = await asyncio.to_thread(path.read_text, encoding="utf-8")
        return {name: "ok" if isinstance(json.loads(text), dict) else "invalid"}

    return Dependency(name, (name,), probe, hard=hard)


def unconfigured_dependency(name: str, checks: tuple[str, ...], hard: bool) -> Dependency:
    """A dependency the service has no setting for (its URL unset): every check it covers
    is "unconfigured", so readiness says so instead of the service refusing to start."""

    async def probe() -> dict[str, str]:
        return dict.fromkeys(checks, "unconfigured")

    return Dependency(name, checks, probe, hard=hard)


async def _ask(dependency: Dependency, timeout_s: float) -> dict[str, str]:
    try:
        return await asyncio.wait_for(dependency.probe(), timeout_s)
    except TimeoutError:
        reason = "timeout"
    except Exception as error:  # every failure of a dependency is "unavailable", by type only
        log.warning("readiness: %s unavailable (%s)", dependency.name, type(error).__name__)
        reason = "unavailable"
    first, *rest = dependency.checks
    return {first: reason, **dict.fromkeys(rest, "unknown")}


def health_routes(dependencies: list[Dependency], timeout_s: float) -> list[Route]:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> JSONResponse:
        answers = await asyncio.gather(*(_ask(d, timeout_s) for d in dependencies))
        checks = {name: status for answer in answers for name, status in answer.items()}
        failing = [
            name
            for dependency, answer in zip(dependencies, answers, strict=True)
            if dependency.hard
            for name, status in answer.items()
            if status != "ok"
        ]
        degraded = [
            dependency.name
            for dependency, answer in zip(dependencies, answers, strict=True)
            if not dependency.hard and any(status != "ok" for status in answer.values())
        ]
        if failing:
            body = {"status": "unready", "failing": failing, "checks": checks}
            return JSONResponse(body, status_code=503, headers={"Retry-After": RETRY_AFTER_S})
        return JSONResponse({"status": "ready", "checks": checks, "degraded": degraded})

    return [Route("/healthz", healthz), Route("/readyz", readyz)]
