"""The auth service's HTTP interface: Discord ↔ AniList linking and an admin API.

- `GET /oauth/start?context=<token>`: the bot's signed context token (see context.py) names
  the Discord user; answers 302 to AniList's authorize page with a fresh single-use state.
- `GET /oauth/callback?code=…&state=…`: consumes the state, exchanges the code, asks AniList
  who the token belongs to, stores the link with the token encrypted.
- `GET /admin/links`: needs `X-API-Key` (R-AUTH-1).

Every route but health is rate-limited per client (R-RL-1, 2; see ratelimit.py).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from refstack.auth.anilist import AniListError, AniListOAuth
from refstack.auth.apikey import load_api_key, requires_api_key
from refstack.auth.context import ContextError, read_context
from refstack.auth.linking import AlreadyLinkedError, Links
from refstack.auth.ratelimit import RateLimitMiddleware
from refstack.auth.tokens import TokenCipher
from refstack.common.errors import error_body
from refstack.common.health import file_dependency
from refstack.common.service import HEALTH_PATHS, create_service
from refstack.common.settings import optional, required, seconds

MIGRATIONS = Path(__file__).with_name("migrations")
API_KEY = load_api_key()
CONTEXT_KEY = required("OAUTH_CONTEXT_KEY").encode()
cipher = TokenCipher(required("TOKEN_ENCRYPTION_KEY"))
links = Links(optional("DATABASE_URL"))  # unset: unready, and its routes answer 503
anilist = AniListOAuth(
    required("ANILIST_URL"),
    required("ANILIST_CLIENT_ID"),
    required("ANILIST_CLIENT_SECRET"),
    required("OAUTH_REDIRECT_URI"),
    seconds("ANILIST_TIMEOUT_S", 3.0),
    authorize_base_url=os.environ.get("ANILIST_AUTHORIZE_URL") or None,  # else ANILIST_URL
)
# The AniList client credentials as a file (CREDENTIALS_FILE): a hard readiness dependency.
CREDENTIALS_FILE = os.environ.get("ANILIST_CREDENTIALS_FILE")
RATE_LIMIT = int(seconds("RATE_LIMIT_REQUESTS", 60))
RATE_WINDOW_S = seconds("RATE_LIMIT_WINDOW_S", 60)


async def index(request: Request) -> JSONResponse:
    return JSONResponse({"service": "auth"})


async def start(request: Request) -> Response:
    try:
        discord_user_id = read_context(request.query_params.get("context", ""), CONTEXT_KEY)
    except ContextError:
        return error_body(400, "invalid link request")
    state = await links.new_state(discord_user_id)
    return RedirectResponse(anilist.authorize_url(state), status_code=302)


async def callback(request: Request) -> Response:
    code, state = request.query_params.get("code"), request.query_params.get("state")
    if not code or not state:
        return error_body(400, "invalid callback")
    discord_user_id = await links.consume_state(state)
    if discord_user_id is None:
        return error_body(400, "invalid or expired state")
    try:
        token = await anilist.exchange(code)
        account = await anilist.viewer(token)
    except AniListError:
        return error_body(502, "AniList did not complete the link")
    try:
        await links.link(discord_user_id, account.id, account.name, cipher.seal(token))
    except AlreadyLinkedError:
        return error_body(409, "this AniList account is linked to another Discord user")
    return JSONResponse({"linked": True, "anilist_user": account.name})


@requires_api_key(API_KEY)
async def admin_links(request: Request) -> Response:
    return JSONResponse({"links": await links.count()})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    await anilist.aclose()


def rate_limited(inner: ASGIApp) -> ASGIApp:
    return RateLimitMiddleware(
        inner, limit=RATE_LIMIT, window_s=RATE_WINDOW_S, exempt_paths=HEALTH_PATHS
    )


app = create_service(
    "auth",
    "auth",
    MIGRATIONS,
    [
        Route("/", index),
        Route("/oauth/start", start),
        Route("/oauth/callback", callback),
        Route("/admin/links", admin_links),
    ],
    lifespan=lifespan,
    secrets={
        "AUTH_API_KEY": API_KEY.decode(),
        "OAUTH_CONTEXT_KEY": CONTEXT_KEY.decode(),
        "TOKEN_ENCRYPTION_KEY": required("TOKEN_ENCRYPTION_KEY"),
        "ANILIST_CLIENT_SECRET": required("ANILIST_CLIENT_SECRET"),
    },
    wrap=rate_limited,
    files=[file_dependency("anilist_credentials", Path(CREDENTIALS_FILE), hard=True)]
    if CREDENTIALS_FILE
    else [],
)
