"""The OAuth context token: who asked to link, signed by the bot (R-OAUTH-1).

`base64url(json).base64url(HMAC-SHA256(key, base64url(json)))`, the JSON holding
`discord_user_id`, `iat` and `exp` (Unix seconds). It is refused when the MAC is wrong, it
has expired, it was issued in the future, or it claims to live longer than 300 s.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time

MAX_LIFETIME_S = 300
CLOCK_SKEW_S = 5  # bot and auth service share a host clock; allow only a rounding's worth


class ContextError(ValueError):
    """The token is not one this service accepts; the message says which check failed."""


def _unpad(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def read_context(token: str, key: bytes, now: float | None = None) -> str:
    """The Discord user ID the token vouches for."""
    payload_b64, dot, mac_b64 = token.partition(".")
    if not dot or not payload_b64 or not mac_b64:
        raise ContextError("malformed token")
    expected = hmac.new(key, payload_b64.encode("ascii", "replace"), hashlib.sha256).digest()
    try:
        mac = _unpad(mac_b64)
        claims = json.loads(_unpad(payload_b64))
    except (binascii.Error, ValueError):
        raise ContextError("malformed token") from None
    if not hmac.compare_digest(mac, expected):
        raise ContextError("bad MAC")
    if not isinstance(claims, dict):
        raise ContextError("malformed claims")
    user, issued, expires = claims.get("discord_user_id"), claims.get("iat"), claims.get("exp")
    if not (isinstance(user, str) and user.isdigit()):
        raise ContextError("no Discord user")
    if not (isinstance(issued, int) and isinstance(expires, int)):
        raise ContextError("no iat/exp")
    now = time.time() if now is None else now
    if issued > now + CLOCK_SKEW_S:
        raise ContextError("issued in the future")
    if expires <= now:
        raise ContextError("expired")
    if expires - issued > MAX_LIFETIME_S:
        raise ContextError("lifetime too long")
    return user
