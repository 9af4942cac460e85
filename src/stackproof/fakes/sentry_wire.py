"""What sentry-sdk puts on the wire: envelopes, legacy store bodies, encodings, auth.

An envelope (https://develop.sentry.dev/sdk/data-model/envelopes/) is a JSON header line, then
items: a JSON item header line (with `type`, and `length` when the payload may hold newlines)
and the payload, each item ended by a newline. SDKs compress the body (`Content-Encoding:
gzip`; `br` when the Brotli module is installed; `deflate` from some) and authenticate with
`X-Sentry-Auth: Sentry sentry_key=..., sentry_version=7, ...`, the `sentry_key` query
parameter, or the `dsn` envelope header.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

MAX_BODY_BYTES: Final = 100 * 1024 * 1024  # Relay's limit for a decompressed envelope
ENVELOPE_TYPES_WITH_JSON: Final = frozenset(
    {
        "event",
        "transaction",
        "session",
        "sessions",
        "client_report",
        "log",
        "check_in",
        "span",
        "profile",
        "profile_chunk",
        "feedback",
        "user_report",
        "replay_event",
        "trace_metric",
    }
)
EVENT_TYPES: Final = frozenset({"event", "transaction"})

try:  # sentry-sdk compresses with Brotli when the module is installed
    import brotli as _brotli  # type: ignore[import-not-found, unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None


class WireError(Exception):
    """A request the fake refuses, with the status and `detail` Relay would answer."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Item:
    """One envelope item: its headers, its payload as sent, and the payload's JSON if any."""

    type: str
    headers: Mapping[str, Any]
    payload: bytes = field(repr=False)
    data: Any = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Envelope:
    headers: Mapping[str, Any]
    items: tuple[Item, ...]

    @property
    def event_id(self) -> str | None:
        for candidate in (self.headers, *(i.data for i in self.items if i.type in EVENT_TYPES)):
            if isinstance(candidate, Mapping) and isinstance(candidate.get("event_id"), str):
                return str(candidate["event_id"])
        return None


@dataclass(frozen=True, slots=True)
class SentryAuth:
    """Who sent a request: the DSN's public key (and the legacy secret key) and the client."""

    public_key: str | None
    client: str | None = None
    version: str | None = None
    secret_key: str | None = field(default=None, repr=False)


def decode_body(body: bytes, content_encoding: str | None, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body without its content encodings (applied in order, so undone in reverse)."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]
    for coding in reversed(codings):
        if coding in ("identity", ""):
            continue
        if coding in ("gzip", "x-gzip"):
            body = _inflate(body, zlib.MAX_WBITS | 16, limit, coding)
        elif coding == "deflate":
            # RFC 9110 says zlib-wrapped; some clients send raw deflate. Accept both.
            wbits = zlib.MAX_WBITS if _has_zlib_header(body) else -zlib.MAX_WBITS
            body = _inflate(body, wbits, limit, coding)
        elif coding == "br":
            if _brotli is None:
                raise WireError(415, "br bodies need the Brotli module (pip install brotli)")
            try:
                body = _brotli.decompress(body)
            except _brotli.error as error:
                raise WireError(400, f"invalid br body: {error}") from None
        else:
            raise WireError(415, f"unsupported content encoding {coding!r}")
        if len(body) > limit:
            raise WireError(413, "envelope exceeded size limits")
    return body


def _has_zlib_header(body: bytes) -> bool:
    # RFC 1950: compression method 8, and the two header bytes a multiple of 31.
    return len(body) >= 2 and body[0] & 0x0F == 8 and (body[0] << 8 | body[1]) % 31 == 0


def _inflate(body: bytes, wbits: int, limit: int, coding: str) -> bytes:
    inflater = zlib.decompressobj(wbits)
    try:
        data = inflater.decompress(body, limit + 1)  # bounded: a small bomb stays small
    except zlib.error as error:
        raise WireError(400, f"invalid {coding} body: {error}") from None
    if len(data) > limit:
        raise WireError(413, "envelope exceeded size limits")
    if not inflater.eof:
        raise WireError(400, f"invalid {coding} body: truncated")
    return data


def parse_envelope(body: bytes) -> Envelope:
    """Parse an envelope; WireError(400) says what is malformed."""
    if not body.strip():
        raise WireError(400, "empty request body")
    position = 0
    header_line, position = _line(body, position)
    headers = _json_object(header_line, "envelope header")
    items: list[Item] = []
    while position < len(body):
        line, position = _line(body, position)
        if not line.strip():  # a trailing newline, or an empty line between items
            continue
        item_headers = _json_object(line, f"header of item {len(items) + 1}")
        item_type = item_headers.get("type")
        if not isinstance(item_type, str) or not item_type:
            raise WireError(400, f"invalid event envelope: item {len(items) + 1} has no type")
        length = item_headers.get("length")
        if length is None:
            payload, position = _line(body, position)
        else:
            if not isinstance(length, int) or length < 0 or position + length > len(body):
                raise WireError(400, f"invalid event envelope: bad length of {item_type} item")
            payload = body[position : position + length]
            position += length
            if body[position : position + 1] == b"\n":
                position += 1
        items.append(Item(item_type, item_headers, payload, _payload_data(item_type, payload)))
    return Envelope(headers, tuple(items))


def parse_store_body(body: bytes) -> Envelope:
    """A legacy `/store/` body (one JSON event; very old SDKs: base64 of zlib of it)."""
    text = body.strip()
    if not text.startswith(b"{"):
        try:
            text = zlib.decompress(base64.b64decode(text, validate=True))
        except (binascii.Error, zlib.error):
            raise WireError(400, "invalid JSON data") from None
    event = _json_object(text, "event")
    event_id = event.get("event_id")
    headers = {"event_id": event_id} if isinstance(event_id, str) else {}
    item_type = "transaction" if event.get("type") == "transaction" else "event"
    return Envelope(headers, (Item(item_type, {"type": item_type}, text, event),))


def parse_auth(header: str | None, query: Mapping[str, list[str]], dsn: object) -> SentryAuth:
    """Credentials from `X-Sentry-Auth`, else the query string, else the envelope's `dsn`."""
    if header:
        scheme, _, rest = header.strip().partition(" ")
        if scheme.lower() != "sentry":
            raise WireError(401, "invalid authorization scheme (expected Sentry)")
        fields = dict(part.strip().partition("=")[::2] for part in rest.split(",") if "=" in part)
        return SentryAuth(
            fields.get("sentry_key") or None,
            fields.get("sentry_client"),
            fields.get("sentry_version"),
            fields.get("sentry_secret"),
        )
    if query.get("sentry_key"):
        return SentryAuth(
            query["sentry_key"][0], _first(query, "sentry_client"), _first(query, "sentry_version")
        )
    if isinstance(dsn, str) and dsn:
        try:
            key = urlsplit(dsn).username
        except ValueError:
            key = None
        return SentryAuth(key)
    return SentryAuth(None)


def _first(query: Mapping[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _line(body: bytes, position: int) -> tuple[bytes, int]:
    end = body.find(b"\n", position)
    if end < 0:
        return body[position:], len(body)
    return body[position:end], end + 1


def _json_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except ValueError as error:
        raise WireError(400, f"invalid JSON data in {what}: {error}") from None
    if not isinstance(value, dict):
        raise WireError(400, f"invalid JSON data in {what}: not an object")
    return value


def _payload_data(item_type: str, payload: bytes) -> Any:
    if item_type not in ENVELOPE_TYPES_WITH_JSON:
        return None
    try:
        return json.loads(payload)
    except ValueError:
        if item_type in EVENT_TYPES:  # Relay reads these at once and refuses bad JSON
            raise WireError(400, f"invalid JSON data in {item_type} item") from None
        return None
