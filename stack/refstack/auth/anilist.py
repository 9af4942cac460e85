"""AniList's side of OAuth linking: the authorize URL, the code exchange, the Viewer query.

As AniList speaks it: browsers go to `/api/v2/oauth/authorize?client_id=…&redirect_uri=…&
response_type=code&state=…`; the code is exchanged by `POST /api/v2/oauth/token` (JSON:
grant_type, client_id, client_secret, redirect_uri, code) for `{"access_token": …}`; who the
token belongs to comes from the GraphQL `Viewer { id name }` with `Authorization: Bearer`.
Browsers and this service may reach AniList at different addresses (in containers, the
service through the network, the browser through a published port): `authorize_base_url`,
if given, is where browsers are sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

VIEWER_QUERY = "query { Viewer { id name } }"


class AniListError(Exception):
    """AniList refused or did not answer usefully; the message never carries a token."""


@dataclass(frozen=True, slots=True)
class AniListAccount:
    id: int
    name: str


class AniListOAuth:
    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        timeout_s: float,
        *,
        authorize_base_url: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.authorize_base_url = (authorize_base_url or base_url).rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self._http = httpx.AsyncClient(
            timeout=timeout_s, trust_env=False, headers={"Accept": "application/json"}
        )

    def authorize_url(self, state: str) -> str:
        query = urlencode(
            {
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "response_type": "code",
                "state": state,
            }
        )
        return f"{self.authorize_base_url}/api/v2/oauth/authorize?{query}"

    async def exchange(self, code: str) -> str:
        body = {
            "grant_type": "authorization_code",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": self.redirect_uri,
            "code": code,
        }
        try:
            response = await self._http.post(f"{self.base_url}/api/v2/oauth/token", json=body)
        except httpx.HTTPError as error:
            raise AniListError(f"token endpoint: {type(error).__name__}") from None
        token = _field(response, "access_token")
        if not isinstance(token, str) or not token:
            raise AniListError(f"token endpoint: status {response.status_code}")
        return token

    async def viewer(self, token: str) -> AniListAccount:
        try:
            response = await self._http.post(
                f"{self.base_url}/",
                json={"query": VIEWER_QUERY},
                headers={"Authorization": f"Bearer {token}"},
            )
        except httpx.HTTPError as error:
            raise AniListError(f"Viewer query: {type(error).__name__}") from None
        data = _field(response, "data")
        viewer = data.get("Viewer") if isinstance(data, dict) else None
        if not isinstance(viewer, dict) or not isinstance(viewer.get("id"), int):
            raise AniListError(f"Viewer query: status {response.status_code}")
        return AniListAccount(viewer["id"], str(viewer.get("name") or ""))

    async def aclose(self) -> None:
        await self._http.aclose()


def _field(response: httpx.Response, name: str) -> object:
    if response.status_code != 200:
        return None
    try:
        document = response.json()
    except ValueError:
        return None
    return document.get(name) if isinstance(document, dict) else None
