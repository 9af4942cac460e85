"""Driving an OAuth linking flow as a browser and the bot would (R-OAUTH-1..3).

The bot hands a user a link carrying a context token it signed; the browser opens it, is sent
to the provider's authorize page (here the AniList fake, where `login=<name>` says who
approves), and comes back to the callback with a code and the state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import psycopg

from stackproof.backends import Stack
from stackproof.checks.http import FrontClient
from stackproof.profile.auth import OAuthSettings


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def context_token(key: str, discord_user_id: str, issued: int, expires: int) -> str:
    """`base64url(json).base64url(HMAC-SHA256(key, base64url(json)))`, as the bot makes it."""
    claims = {"discord_user_id": discord_user_id, "iat": issued, "exp": expires}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    mac = hmac.new(key.encode(), payload.encode(), hashlib.sha256).digest()
    return f"{payload}.{_b64(mac)}"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items() if v}


@dataclass(frozen=True)
class Callback:
    code: str
    state: str

    def path(self, callback_path: str) -> str:
        return f"{callback_path}?{urlencode({'code': self.code, 'state': self.state})}"


class LinkFlow:
    """One stack's linking flow; `client` is the browser (a FrontClient)."""

    def __init__(
        self, stack: Stack, settings: OAuthSettings, client: FrontClient, context_key: str
    ) -> None:
        self.stack = stack
        self.settings = settings
        self.client = client
        self.context_key = context_key  # the secret `settings.context_key_secret` names
        self._provider = httpx.Client(timeout=10.0, trust_env=False)

    def close(self) -> None:
        self._provider.close()

    def token(self, discord_user_id: str, lifetime_s: int = 120, issued_ago_s: int = 0) -> str:
        now = int(time.time())
        issued = now - issued_ago_s
        return context_token(self.context_key, discord_user_id, issued, issued + lifetime_s)

    def start(self, context: str) -> httpx.Response:
        query = urlencode({"context": context})
        return self.client.https("GET", f"{self.settings.start_path}?{query}")

    def begin(self, discord_user_id: str) -> str:
        """Start a link for the user; the authorize URL the service sent the browser to."""
        response = self.start(self.token(discord_user_id))
        location = str(response.headers.get("location", ""))
        if response.status_code not in (302, 303) or not location:
            raise AssertionError(
                f"{self.settings.start_path} with a valid context token: status "
                f"{response.status_code}, expected a redirect to the provider"
            )
        return location

    def authorize(self, authorize_url: str, login: str, state: str | None = None) -> Callback:
        """The provider's approval (as `login`); `state` replaces the one in the URL."""
        query = query_of(authorize_url) | {"login": login}
        if state is not None:
            query["state"] = state
        url = urlsplit(authorize_url)._replace(query=urlencode(query)).geturl()
        response = self._provider.get(url)
        back = query_of(response.headers.get("location", ""))
        if response.status_code != 302 or "code" not in back:
            raise AssertionError(f"the provider's authorize page answered {response.status_code}")
        return Callback(back["code"], back.get("state", ""))

    def callback(self, callback: Callback, client: FrontClient | None = None) -> httpx.Response:
        return (client or self.client).https("GET", callback.path(self.settings.callback_path))

    def link(self, discord_user_id: str, login: str) -> httpx.Response:
        return self.callback(self.authorize(self.begin(discord_user_id), login))


def run_sql(
    stack: Stack, database: str, sql: str, params: dict[str, str]
) -> list[tuple[object, ...]]:
    """Run `sql` as the database's administrator (the harness's own access)."""
    with psycopg.connect(stack.service(database).admin_url(), autocommit=True) as connection:
        cursor = connection.execute(sql.encode(), params)  # the profile's SQL, with parameters
        return cursor.fetchall() if cursor.description else []
