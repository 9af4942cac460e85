"""Discord request signatures: Ed25519 over timestamp + raw body, within a time window.

Every malformed input (hex that is not hex, a signature of the wrong length, a timestamp
that is not a number) is simply "not verified": the caller answers 401, never 500.
"""

from __future__ import annotations

import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from refstack.common.settings import SettingsError

MAX_AGE_S = 300
MAX_FUTURE_S = 60


def load_public_key(hex_key: str) -> Ed25519PublicKey:
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key))
    except ValueError:
        raise SettingsError("DISCORD_PUBLIC_KEY is not a hex Ed25519 public key") from None


def fresh(timestamp: str, now: float | None = None) -> bool:
    try:
        stamp = int(timestamp)
    except ValueError:
        return False
    age = (time.time() if now is None else now) - stamp
    return -MAX_FUTURE_S <= age <= MAX_AGE_S


def verified(
    key: Ed25519PublicKey, signature_hex: str | None, timestamp: str | None, body: bytes
) -> bool:
    if not signature_hex or not timestamp or not fresh(timestamp):
        return False
    try:
        key.verify(bytes.fromhex(signature_hex), timestamp.encode() + body)
    except (ValueError, InvalidSignature):
        return False
    return True
