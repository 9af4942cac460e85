"""The bot's HTTP interface: Discord's interactions endpoint."""

from __future__ import annotations

import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from refstack.bot.canary import canary_routes
from refstack.bot.signature import load_public_key, verified
from refstack.common.errors import error_body
from refstack.common.service import create_service
from refstack.common.settings import required

MIGRATIONS = Path(__file__).with_name("migrations")
PING, PONG = 1, 1
PUBLIC_KEY = load_public_key(required("DISCORD_PUBLIC_KEY"))


async def index(request: Request) -> JSONResponse:
    return JSONResponse({"service": "bot"})


async def interactions(request: Request) -> JSONResponse:
    body = await request.body()
    signature = request.headers.get("X-Signature-Ed25519")
    timestamp = request.headers.get("X-Signature-Timestamp")
    if not verified(PUBLIC_KEY, signature, timestamp, body):
        return error_body(401, "invalid request signature")
    try:
        interaction = json.loads(body)
    except ValueError:
        return error_body(400, "malformed interaction")
    if not isinstance(interaction, dict):
        return error_body(400, "malformed interaction")
    if interaction.get("type") == PING:
        return JSONResponse({"type": PONG})
    return error_body(400, "unsupported interaction type")


app = create_service(
    "bot",
    "bot",
    MIGRATIONS,
    [
        Route("/", index),
        Route("/interactions", interactions, methods=["POST"]),
        *canary_routes(),
    ],
)
