"""The Redis cache of AniList answers: entries expire (R-RES-1's TTL), and a cache that does
not answer is bypassed, never an error (R-RES-1, R-HLT-5)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from typing import Any

import redis.asyncio as aioredis

log = logging.getLogger("cache")
KEY_PREFIX = "anilist:media:anime:"


def cache_key(search: str) -> str:
    normal = " ".join(search.casefold().split())
    return KEY_PREFIX + hashlib.sha256(normal.encode()).hexdigest()[:40]


class MediaCache:
    def __init__(self, client: aioredis.Redis | None, ttl_s: int, timeout_s: float) -> None:
        self.client = client
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s

    async def get(self, search: str) -> dict[str, Any] | None:
        """The cached Media, or None on a miss — and on any failure of the cache."""
        if self.client is None:
            return None
        try:
            async with asyncio.timeout(self.timeout_s):
                raw = await self.client.get(cache_key(search))
        except Exception as error:  # the cache is soft: whatever it does, bypass it
            log.warning("cache unavailable (%s); bypassed", type(error).__name__)
            return None
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    async def put(self, search: str, media: dict[str, Any]) -> None:
        if self.client is None:
            return
        try:
            async with asyncio.timeout(self.timeout_s):
                await self.client.set(cache_key(search), json.dumps(media), ex=self.ttl_s)
        except Exception as error:  # the answer is already in hand; the cache can wait
            log.warning("cache unavailable (%s); not stored", type(error).__name__)
