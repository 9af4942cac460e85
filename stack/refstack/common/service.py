"""Builds a reference service: settings, logging, health routes, error answers, request IDs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext
from pathlib import Path

import psycopg
import redis.asyncio as aioredis
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from refstack.common import logs
from refstack.common.errors import dependency_unavailable, http_error, unexpected_error
from refstack.common.health import (
    Dependency,
    health_routes,
    postgres_dependency,
    redis_dependency,
    unconfigured_dependency,
)
from refstack.common.requestid import RequestIdMiddleware
from refstack.common.settings import CommonSettings
from refstack.common.telemetry import start_telemetry

HEALTH_PATHS = ("/healthz", "/readyz")
Lifespan = Callable[[Starlette], AbstractAsyncContextManager[None]]


def create_service(
    name: str,
    schema: str,
    migrations: Path,
    routes: list[BaseRoute],
    lifespan: Lifespan | None = None,
    *,
    secrets: Mapping[str, str | None] | None = None,
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
    files: Sequence[Dependency] = (),
) -> ASGIApp:
    """The service's app; `lifespan` starts and stops what its own routes need.

    `secrets` are the values the service holds besides its connection strings (tokens,
    keys): its telemetry redacts them wherever they appear. `wrap` puts middleware (a rate
    limit) inside the request-ID layer, so its answers carry the ID.
    """
    settings = CommonSettings.from_env(name)
    log = logs.configure(name, settings.log_level)
    connections = {"database": settings.database_url, "cache": settings.redis_url}
    start_telemetry(name, secrets=secrets or {}, connections=connections)
    # Where the service connects, for operators; the log redaction masks the credentials.
    log.info("starting: database %s, cache %s", settings.database_url, settings.redis_url)
    cache = (
        aioredis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=1)
        if settings.redis_url
        else None
    )
    # A connection setting left unset is reported, not refused: without the database the
    # service is unready (hard), without the cache degraded (soft).
    dependencies: list[Dependency] = [
        postgres_dependency(settings.database_url, schema, migrations)
        if settings.database_url
        else unconfigured_dependency("postgres", ("postgres", "migrations"), hard=True)
    ]
    if cache is not None:
        dependencies.append(redis_dependency(cache))
    else:
        dependencies.append(unconfigured_dependency("redis", ("redis",), hard=False))
    dependencies.extend(files)  # files the service reads (file_dependency)

    @asynccontextmanager
    async def service_lifespan(app: Starlette) -> AsyncIterator[None]:
        async with lifespan(app) if lifespan is not None else nullcontext():
            yield
        if cache is not None:
            await cache.aclose()

    app = Starlette(
        routes=[*health_routes(dependencies, settings.readiness_timeout_s), *routes],
        exception_handlers={
            HTTPException: http_error,
            psycopg.OperationalError: dependency_unavailable,  # down, refused, wrong password
            Exception: unexpected_error,
        },
        lifespan=service_lifespan,
    )
    return RequestIdMiddleware(app if wrap is None else wrap(app), quiet_paths=HEALTH_PATHS)
