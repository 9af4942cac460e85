"""OAuth tokens at rest: AES-256-GCM, a fresh nonce per token (R-OAUTH-3).

The key is derived (HKDF-SHA256) from TOKEN_ENCRYPTION_KEY, a secret of the deployment; the
stored value is `nonce || ciphertext+tag`, so a database dump holds no plaintext token.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
PURPOSE = b"refstack oauth tokens v1"


class TokenCipher:
    def __init__(self, secret: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=PURPOSE).derive(
            secret.encode()
        )
        self._aead = AESGCM(key)

    def seal(self, token: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, token.encode(), PURPOSE)

    def open(self, sealed: bytes) -> str:
        nonce, body = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:]
        return self._aead.decrypt(nonce, body, PURPOSE).decode()
