"""A client for any Toxiproxy v2 API: the real server or ours.

All state is per instance (the server URL, the HTTP connection pool), so two servers can be
driven at once; the PyPI `toxiproxy-python` client keeps its address in class attributes.
Updates use POST, which every 2.x server accepts (2.6 added PATCH and deprecated POST).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from types import TracebackType
from urllib.parse import quote

import httpx

from stackproof import __version__
from stackproof.toxiproxy import faults
from stackproof.toxiproxy.schema import (
    ERRORS,
    ProxyInfo,
    ProxyRef,
    Stream,
    ToxicInfo,
    ToxiproxyError,
)


class ToxiproxyClient:
    """`ToxiproxyClient("http://127.0.0.1:8474")`; close it, or use it as a context manager."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float = 10.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_s,
            transport=transport,
            trust_env=False,  # loopback API: never through an HTTP proxy from the environment
            headers={"User-Agent": f"stackproof/{__version__}"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ToxiproxyClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- server ---------------------------------------------------------------------------

    def version(self) -> str:
        response = self._request("GET", "/version")
        with contextlib.suppress(ValueError):
            data = response.json()
            if isinstance(data, dict) and isinstance(version := data.get("version"), str):
                return version
        return response.text.strip()  # servers before 2.x's JSON /version answer plain text

    def reset(self) -> None:
        """Enable every proxy and remove every toxic."""
        self._request("POST", "/reset")

    # -- proxies --------------------------------------------------------------------------

    def proxies(self) -> dict[str, ProxyInfo]:
        data = self._request("GET", "/proxies").json()
        return {name: ProxyInfo.from_json(proxy) for name, proxy in data.items()}

    def get_proxy(self, proxy: ProxyRef) -> ProxyInfo:
        return ProxyInfo.from_json(self._request("GET", _proxy_path(proxy)).json())

    def create_proxy(
        self, name: str, upstream: str, *, listen: str = "127.0.0.1:0", enabled: bool = True
    ) -> ProxyInfo:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return ProxyInfo.from_json(self._request("POST", "/proxies", body).json())

    def update_proxy(
        self,
        proxy: ProxyRef,
        *,
        listen: str | None = None,
        upstream: str | None = None,
        enabled: bool | None = None,
    ) -> ProxyInfo:
        fields = {"listen": listen, "upstream": upstream, "enabled": enabled}
        body = {key: value for key, value in fields.items() if value is not None}
        return ProxyInfo.from_json(self._request("POST", _proxy_path(proxy), body).json())

    def delete_proxy(self, proxy: ProxyRef) -> None:
        self._request("DELETE", _proxy_path(proxy))

    def populate(self, proxies: Iterable[Mapping[str, object]]) -> list[ProxyInfo]:
        """Create or replace proxies in one call; unchanged ones are kept as they are."""
        data = self._request("POST", "/populate", list(proxies)).json()
        return [ProxyInfo.from_json(proxy) for proxy in data.get("proxies") or ()]

    # -- toxics ---------------------------------------------------------------------------

    def toxics(self, proxy: ProxyRef) -> list[ToxicInfo]:
        data = self._request("GET", f"{_proxy_path(proxy)}/toxics").json()
        return [ToxicInfo.from_json(toxic) for toxic in data]

    def get_toxic(self, proxy: ProxyRef, name: str) -> ToxicInfo:
        return ToxicInfo.from_json(self._request("GET", _toxic_path(proxy, name)).json())

    def add_toxic(
        self,
        proxy: ProxyRef,
        type: str,
        *,
        attributes: Mapping[str, int] | None = None,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> ToxicInfo:
        body = {
            "name": name or f"{type}_{stream}",
            "type": type,
            "stream": stream,
            "toxicity": toxicity,
            "attributes": dict(attributes or {}),
        }
        data = self._request("POST", f"{_proxy_path(proxy)}/toxics", body).json()
        return ToxicInfo.from_json(data)

    def update_toxic(
        self,
        proxy: ProxyRef,
        name: str,
        *,
        attributes: Mapping[str, int] | None = None,
        toxicity: float | None = None,
    ) -> ToxicInfo:
        body: dict[str, object] = {}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        return ToxicInfo.from_json(self._request("POST", _toxic_path(proxy, name), body).json())

    def remove_toxic(self, proxy: ProxyRef, name: str) -> None:
        self._request("DELETE", _toxic_path(proxy, name))

    # -- faults that undo themselves ------------------------------------------------------

    def toxic(
        self,
        proxy: ProxyRef,
        type: str,
        *,
        attributes: Mapping[str, int] | None = None,
        stream: Stream = "downstream",
        toxicity: float = 1.0,
        name: str | None = None,
    ) -> contextlib.AbstractContextManager[ToxicInfo]:
        """`with client.toxic(proxy, "latency", attributes={"latency": 500}):` (see `faults`)."""
        return faults.toxic(
            self,
            proxy,
            type,
            attributes=attributes,
            stream=stream,
            toxicity=toxicity,
            name=name,
        )

    def disabled(self, proxy: ProxyRef) -> contextlib.AbstractContextManager[ProxyInfo]:
        """`with client.disabled(proxy):` the link is down (see `faults`)."""
        return faults.disabled(self, proxy)

    # -- transport ------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: object = None) -> httpx.Response:
        response = self._http.request(method, path, json=body)
        if response.is_success:
            return response
        try:
            message = str(response.json().get("error", response.text.strip()))
        except (ValueError, AttributeError):
            message = response.text.strip()
        error_type = ERRORS.get(response.status_code, ToxiproxyError)
        raise error_type(method, path, response.status_code, message)


def _name(proxy: ProxyRef) -> str:
    return proxy.name if isinstance(proxy, ProxyInfo) else proxy


def _proxy_path(proxy: ProxyRef) -> str:
    return f"/proxies/{quote(_name(proxy), safe='')}"


def _toxic_path(proxy: ProxyRef, toxic: str) -> str:
    return f"{_proxy_path(proxy)}/toxics/{quote(toxic, safe='')}"
