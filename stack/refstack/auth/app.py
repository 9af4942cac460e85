"""The auth service's HTTP interface."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from refstack.common.service import create_service

MIGRATIONS = Path(__file__).with_name("migrations")


async def index(request: Request) -> JSONResponse:
    return JSONResponse({"service": "auth"})


app = create_service("auth", "auth", MIGRATIONS, [Route("/", index)])
