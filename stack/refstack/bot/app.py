"""The bot's HTTP interface: Discord's interactions endpoint, with `/anime <query>`.

`/anime` looks the title up in AniList through the Redis cache (entries expire after
CACHE_TTL_S, 5 h by default) and answers with an embed; a cache that does not answer is
bypassed (R-RES-1). Every handled command writes one usage row keyed by the interaction's
ID, retried until it lands (R-RES-3).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
import sentry_sdk
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from refstack.bot.aliases import Aliases
from refstack.bot.anilist import AniList, AniListUnavailableError
from refstack.bot.cache import MediaCache
from refstack.bot.canary import canary_routes
from refstack.bot.interactions import (
    APPLICATION_COMMAND,
    PING,
    PONG,
    Command,
    media_embed,
    message,
    parse_command,
)
from refstack.bot.signature import load_public_key, verified
from refstack.bot.usage import UsageRow, UsageWriter, user_hash
from refstack.common.errors import error_body
from refstack.common.health import file_dependency
from refstack.common.service import create_service
from refstack.common.settings import optional, required, seconds

MIGRATIONS = Path(__file__).with_name("migrations")
log = logging.getLogger("bot")
PUBLIC_KEY = load_public_key(required("DISCORD_PUBLIC_KEY"))
USERID_HASH_SALT = required("USERID_HASH_SALT")
CACHE_TTL_S = int(seconds("CACHE_TTL_S", 18_000))

anilist = AniList(required("ANILIST_URL"), seconds("ANILIST_TIMEOUT_S", 1.5))
redis_url = optional("REDIS_URL")
cache = MediaCache(
    aioredis.from_url(redis_url, socket_connect_timeout=0.5, socket_timeout=0.5)
    if redis_url
    else None,
    CACHE_TTL_S,
    seconds("CACHE_TIMEOUT_S", 0.3),
)
# Nicknames of titles (aliases.py): a soft readiness dependency, optional.
ALIASES_FILE = optional("TITLE_ALIASES_FILE")
aliases = Aliases(Path(ALIASES_FILE) if ALIASES_FILE else None)
usage = UsageWriter(required("DATABASE_URL"), seconds("WRITE_ATTEMPT_TIMEOUT_S", 2.0))


async def lookup(search: str) -> dict[str, Any] | None:
    """The cache first, then AniList (whose answer then goes into the cache)."""
    cached = await cache.get(search)
    if cached is not None:
        return cached
    media = await anilist.media(search)
    if media is not None:
        await cache.put(search, media)
    return media


async def anime(command: Command) -> dict[str, Any]:
    search = command.options.get("query", "").strip()
    if not search:
        return message("Tell me which anime: `/anime <title>`.", ephemeral=True)
    try:
        media = await lookup(aliases.resolve(search))
    except AniListUnavailableError:
        # An error event with the user and guild in scope: the telemetry hashes both IDs.
        log.exception("AniList lookup failed for %s", command)
        return message("AniList is not answering right now; try again soon.", ephemeral=True)
    if media is None:
        return message(f"No anime found for “{search}”.", ephemeral=True)
    return message("", [media_embed(media)])


async def answer(command: Command) -> dict[str, Any]:
    if command.name == "anime":
        return await anime(command)
    return message("I do not know that command.", ephemeral=True)


async def index(request: Request) -> JSONResponse:
    return JSONResponse({"service": "bot"})


async def verified_interaction(request: Request) -> dict[str, Any] | JSONResponse:
    """The interaction Discord signed, or the error answer to a request it did not sign."""
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
    return interaction


async def interactions(request: Request) -> JSONResponse:
    interaction = await verified_interaction(request)
    if isinstance(interaction, JSONResponse):
        return interaction
    kind = interaction.get("type")
    if kind == PING:
        return JSONResponse({"type": PONG})
    if kind != APPLICATION_COMMAND:
        return error_body(400, "unsupported interaction type")
    command = parse_command(interaction)
    if command is None:
        return error_body(400, "malformed interaction")
    sentry_sdk.set_user({"id": command.user_id})
    sentry_sdk.set_tag("guild", command.guild_id or "dm")
    log.info("/%s from user %s in guild %s", command.name, command.user_id, command.guild_id)
    reply = await answer(command)
    usage.record(
        UsageRow(command.interaction_id, command.name, user_hash(USERID_HASH_SALT, command.user_id))
    )
    return JSONResponse(reply)


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    usage.start()
    yield
    await usage.stop(drain_s=2.0)
    await anilist.aclose()
    if cache.client is not None:
        await cache.client.aclose()


app = create_service(
    "bot",
    "bot",
    MIGRATIONS,
    [
        Route("/", index),
        Route("/interactions", interactions, methods=["POST"]),
        *canary_routes(),
    ],
    lifespan=lifespan,
    secrets={
        "DISCORD_BOT_TOKEN": optional("DISCORD_BOT_TOKEN"),
        "CANARY_TOKEN": optional("CANARY_TOKEN"),
    },
    files=[file_dependency("title_aliases", Path(ALIASES_FILE), hard=False)]
    if ALIASES_FILE
    else [],
)
