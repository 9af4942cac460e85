"""AniList lookups over its GraphQL API (`POST https://graphql.anilist.co`)."""

from __future__ import annotations

from typing import Any

import httpx

MEDIA_QUERY = """
query ($search: String) {
  Media(search: $search, type: ANIME) {
    id
    siteUrl
    title { romaji english }
    format
    episodes
    averageScore
    genres
    description(asHtml: false)
  }
}
"""


class AniListUnavailableError(Exception):
    """AniList did not answer usefully (down, slow, rate-limited); the message says how."""


class AniList:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self._http = httpx.AsyncClient(
            timeout=timeout_s,
            trust_env=False,
            headers={"Accept": "application/json", "User-Agent": "refstack-bot"},
        )

    async def media(self, search: str) -> dict[str, Any] | None:
        """The anime AniList finds for `search`; None when it finds none."""
        body = {"query": MEDIA_QUERY, "variables": {"search": search}}
        try:
            response = await self._http.post(self.url, json=body)
        except httpx.HTTPError as error:
            raise AniListUnavailableError(type(error).__name__) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise AniListUnavailableError(f"status {response.status_code}")
        try:
            media = response.json()["data"]["Media"]
        except (ValueError, KeyError, TypeError):
            raise AniListUnavailableError("unreadable answer") from None
        return media if isinstance(media, dict) else None

    async def aclose(self) -> None:
        await self._http.aclose()
