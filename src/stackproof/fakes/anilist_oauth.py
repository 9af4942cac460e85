"""AniList's OAuth authorization-code grant, as `anilist.co/api/v2/oauth/*` speaks it.

    GET  /api/v2/oauth/authorize?client_id=…&redirect_uri=…&response_type=code&state=…
         302 to redirect_uri?code=…&state=…   (the fake approves at once; `login=<name>`
                                             stands in for the login form: who approves)
    POST /api/v2/oauth/token  (JSON or form: grant_type=authorization_code, client_id,
         client_secret, redirect_uri, code)
         200 {"token_type": "Bearer", "expires_in": 31536000, "access_token": "…"}
         400/401 {"error": "invalid_grant" | "invalid_request" | "invalid_client", …}

A code is single-use and bound to its redirect_uri. Every access token is the run's token
canary (`--token-canary`, a secret of the profile, so registered in the run's
SecretRegistry) and a serial number: all that is secret in an issued token is registered,
and the report scrubber and the sink scanner find any token, or any half of one.
The GraphQL `Viewer { id name }` answers for a token (see anilist.py).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from stackproof.fakes.httpfake import Answer, Request, Routes

TOKEN_LIFETIME_S: Final = 31_536_000  # a year, as AniList issues them
DEFAULT_LOGIN: Final = "stackproof"


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str


def account_for(login: str) -> Account:
    """A stable AniList account per login name (IDs like AniList's: 6-7 digits)."""
    digest = hashlib.sha256(login.encode()).digest()
    return Account(100_000 + int.from_bytes(digest[:3], "big"), login)


@dataclass(frozen=True, slots=True)
class _Grant:
    account: Account
    redirect_uri: str


class AniListOAuth:
    def __init__(self, client_id: str, client_secret: str, token_canary: str = "") -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_canary = token_canary or secrets.token_urlsafe(12)
        self._codes: dict[str, _Grant] = {}
        self._tokens: dict[str, Account] = {}
        self._serials = itertools.count(1)
        self._lock = threading.Lock()

    def authorize(self, request: Request) -> Answer:
        query = {k: v[0] for k, v in request.query.items() if v}
        if query.get("client_id") != self.client_id:
            return _oauth_error(400, "invalid_client", "Client authentication failed")
        if query.get("response_type") != "code" or not query.get("redirect_uri"):
            return _oauth_error(400, "invalid_request", "The request is missing a parameter")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self._codes[code] = _Grant(
                account_for(query.get("login") or DEFAULT_LOGIN), query["redirect_uri"]
            )
        back = {"code": code} | ({"state": query["state"]} if "state" in query else {})
        return Answer(302, b"", {"Location": _with_query(query["redirect_uri"], back)})

    def token(self, request: Request) -> Answer:
        body = _form_or_json(request)
        if body.get("grant_type") != "authorization_code" or not body.get("code"):
            return _oauth_error(400, "invalid_request", "The request is missing a parameter")
        if body.get("client_id") != self.client_id or not secrets.compare_digest(
            str(body.get("client_secret", "")).encode(), self.client_secret.encode()
        ):
            return _oauth_error(401, "invalid_client", "Client authentication failed")
        with self._lock:
            grant = self._codes.pop(str(body["code"]), None)
            if grant is None or grant.redirect_uri != body.get("redirect_uri"):
                return _oauth_error(
                    400, "invalid_grant", "The authorization code is invalid or was used"
                )
            token = f"{self.token_canary}.{next(self._serials)}"
            self._tokens[token] = grant.account
        return Answer.json(
            200, {"token_type": "Bearer", "expires_in": TOKEN_LIFETIME_S, "access_token": token}
        )

    def viewer(self, authorization: str | None) -> Account | None:
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return None
        with self._lock:
            return self._tokens.get(token.strip())

    def add_routes(self, routes: Routes) -> None:
        routes.add("GET", "/api/v2/oauth/authorize", self.authorize)
        routes.add("POST", "/api/v2/oauth/token", self.token)


def _form_or_json(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "")
    try:
        if "json" in content_type:
            body = json.loads(request.body)
            return body if isinstance(body, dict) else {}
        return {k: v[0] for k, v in parse_qs(request.body.decode()).items() if v}
    except (ValueError, UnicodeDecodeError):
        return {}


def _with_query(url: str, extra: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = f"{parts.query}&{urlencode(extra)}" if parts.query else urlencode(extra)
    return urlunsplit(parts._replace(query=query))


def _oauth_error(status: int, error: str, description: str) -> Answer:
    return Answer.json(
        status,
        {"error": error, "error_description": description, "hint": "", "message": description},
    )
