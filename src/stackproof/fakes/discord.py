"""The Discord side of interactions: signs requests with a per-stack Ed25519 key.

Discord signs `timestamp + raw body` with the application's key and sends the signature in
`X-Signature-Ed25519` (hex) and the timestamp in `X-Signature-Timestamp` (Unix seconds).
"""

from __future__ import annotations

import json
import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SIGNATURE_HEADER = "X-Signature-Ed25519"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
PING = {"type": 1}


class DiscordSigner:
    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()

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
