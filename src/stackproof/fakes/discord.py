"""The Discord side of interactions: signs requests with a per-stack Ed25519 key.

Discord signs `timestamp + raw body` with the application's key and sends the signature in
`X-Signature-Ed25519` (hex) and the timestamp in `X-Signature-Timestamp` (Unix seconds).
"""

from __future__ import annotations

import itertools
import json
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SIGNATURE_HEADER = "X-Signature-Ed25519"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
PING = {"type": 1}
APPLICATION_COMMAND = 2
CHAT_INPUT = 1  # the application command type of slash commands
STRING_OPTION = 3
DISCORD_EPOCH_MS = 1_420_070_400_000


class Snowflakes:
    """Discord IDs: milliseconds since 2015 << 22 | worker << 17 | process << 12 | sequence."""

    def __init__(self, worker: int = 1, process: int = 0) -> None:
        self._prefix = (worker & 0x1F) << 17 | (process & 0x1F) << 12
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            sequence = next(self._sequence) & 0xFFF
            millis = int(time.time() * 1000) - DISCORD_EPOCH_MS
            return str(millis << 22 | self._prefix | sequence)


def application_command(
    name: str,
    options: Mapping[str, str],
    *,
    interaction_id: str,
    application_id: str,
    user_id: str,
    guild_id: str,
    channel_id: str,
    token: str,
) -> dict[str, Any]:
    """A slash-command interaction (type 2) as Discord posts it from a guild channel."""
    return {
        "id": interaction_id,
        "application_id": application_id,
        "type": APPLICATION_COMMAND,
        "token": token,
        "version": 1,
        "guild_id": guild_id,
        "channel_id": channel_id,
        "locale": "en-US",
        "guild_locale": "en-US",
        "app_permissions": "2147483648",
        "data": {
            "id": str(int(application_id) + 1),
            "name": name,
            "type": CHAT_INPUT,
            "options": [
                {"name": key, "type": STRING_OPTION, "value": value}
                for key, value in options.items()
            ],
        },
        "member": {
            "user": {
                "id": user_id,
                "username": "stackproof-user",
                "global_name": "stackproof",
                "discriminator": "0",
                "avatar": None,
            },
            "roles": [],
            "permissions": "2147483648",
            "joined_at": "2024-01-01T00:00:00.000000+00:00",
            "deaf": False,
            "mute": False,
        },
    }


class DiscordSigner:
    """Signs interactions as Discord does, with a key of the run's own, or with the private
    key of the (test) application a running bot trusts (`from_private_key_hex`)."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self._key = key or Ed25519PrivateKey.generate()
        self.snowflakes = Snowflakes()
        self.application_id = self.snowflakes.next()

    @classmethod
    def from_private_key_hex(cls, value: str) -> DiscordSigner:
        """A signer with an Ed25519 private key given as 64 hex digits (its raw 32 bytes)."""
        try:
            raw = bytes.fromhex(value.strip())
        except ValueError:
            raise ValueError("a Discord signing key must be hex digits") from None
        if len(raw) != 32:
            raise ValueError(f"a Discord signing key is 32 bytes (64 hex digits), not {len(raw)}")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    @property
    def public_key_hex(self) -> str:
        return self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def sign(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        """Headers Discord would send with `body`."""
        stamp = timestamp if timestamp is not None else str(int(time.time()))
        signature = self._key.sign(stamp.encode() + body).hex()
        return {
            SIGNATURE_HEADER: signature,
            TIMESTAMP_HEADER: stamp,
            "Content-Type": "application/json",
        }

    def signed(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return body, self.sign(body)

    def command(
        self,
        name: str,
        options: Mapping[str, str],
        *,
        interaction_id: str | None = None,
        user_id: str = "80351110224678912",
    ) -> dict[str, Any]:
        """A fresh slash-command interaction of this application (a new ID unless given)."""
        return application_command(
            name,
            options,
            interaction_id=interaction_id or self.snowflakes.next(),
            application_id=self.application_id,
            user_id=user_id,
            guild_id="290926798626357999",
            channel_id="290926798999357250",
            token=secrets.token_urlsafe(32),
        )
