"""The Toxiproxy v2 HTTP API: the routes, status codes and bodies of Toxiproxy's `api.go`.

Deliberate differences: error bodies are sent as `application/json` (Go's `http.Error`
labels the same JSON `text/plain`); a listen address off loopback is refused (400) unless
the server allows it; and an empty `listen` means `127.0.0.1:0`, not every interface.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Final
from urllib.parse import unquote

from stackproof.toxiproxy.addresses import ListenAddress, check_upstream, resolve_listen
from stackproof.toxiproxy.collection import ProxyCollection
from stackproof.toxiproxy.errors import (
    BAD_REQUEST_BODY,
    MISSING_FIELD,
    ApiError,
    server_error,
)
from stackproof.toxiproxy.http import Request, Response
from stackproof.toxiproxy.proxy import ProxyConfig

# The API level is Toxiproxy 2.6's (PATCH updates); the build metadata names this server.
VERSION: Final = "2.6.0+stackproof"
JSON: Final = {"Content-Type": "application/json"}
DEFAULT_LISTEN: Final = "127.0.0.1:0"

Route = Callable[[Request], Awaitable[Response]]


class ToxiproxyApi:
    """Answers API requests against a `ProxyCollection`."""

    def __init__(self, collection: ProxyCollection, *, allow_non_loopback: bool = False) -> None:
        self.collection = collection
        self._allow_non_loopback = allow_non_loopback

    async def handle(self, request: Request) -> Response:
        routes = self._routes(request.path)
        if routes is None:
            return _plain(404, "404 page not found")
        route = routes.get(request.method)
        if route is None:
            return Response(405)  # gorilla/mux: a known path, another method: empty 405
        if request.headers.get("user-agent", "").startswith("Mozilla/"):
            # Toxiproxy refuses browsers so a web page cannot drive the API (CSRF).
            return _plain(403, "User agent not allowed")
        try:
            return await route(request)
        except ApiError as error:
            return _error(error)

    def _routes(self, path: str) -> Mapping[str, Route] | None:
        parts = [unquote(part) for part in path.split("/")[1:]]
        if not path.startswith("/") or not all(parts):
            return None
        p = functools.partial
        routes: Mapping[str, Route] | None = None
        match parts:
            case ["reset"]:
                routes = {"POST": self._reset}
            case ["version"]:
                routes = {"GET": self._version}
            case ["populate"]:
                routes = {"POST": self._populate}
            case ["proxies"]:
                routes = {"GET": self._proxy_index, "POST": self._proxy_create}
            case ["proxies", proxy]:
                update = p(self._proxy_update, proxy=proxy)
                routes = {
                    "GET": p(self._proxy_show, proxy=proxy),
                    "POST": update,
                    "PATCH": update,
                    "DELETE": p(self._proxy_delete, proxy=proxy),
                }
            case ["proxies", proxy, "toxics"]:
                routes = {
                    "GET": p(self._toxic_index, proxy=proxy),
                    "POST": p(self._toxic_create, proxy=proxy),
                }
            case ["proxies", proxy, "toxics", toxic]:
                update = p(self._toxic_update, proxy=proxy, toxic=toxic)
                routes = {
                    "GET": p(self._toxic_show, proxy=proxy, toxic=toxic),
                    "POST": update,
                    "PATCH": update,
                    "DELETE": p(self._toxic_delete, proxy=proxy, toxic=toxic),
                }
        return routes

    # -- proxies --------------------------------------------------------------------------

    async def _proxy_index(self, request: Request) -> Response:
        proxies = self.collection.all()
        return _json(200, {name: proxy.to_json() for name, proxy in proxies.items()})

    async def _proxy_create(self, request: Request) -> Response:
        config = await self._config(_object(_parse(request.body)), position=None)
        return _json(201, self.collection.add(config).to_json())

    async def _populate(self, request: Request) -> Response:
        try:
            items = _parse(request.body)
            if not isinstance(items, list):
                raise BAD_REQUEST_BODY.joined("expected a JSON array of proxies")
            configs = [
                await self._config(_object(item), position=i) for i, item in enumerate(items, 1)
            ]
            proxies = self.collection.populate(configs)
        except ApiError as error:
            # Toxiproxy writes this body itself, not through http.Error: no trailing newline.
            return _json(error.status, {**error.body(), "proxies": None})
        return _json(201, {"proxies": [proxy.to_json() for proxy in proxies]})

    async def _proxy_show(self, request: Request, *, proxy: str) -> Response:
        return _json(200, self.collection.get(proxy).to_json())

    async def _proxy_update(self, request: Request, *, proxy: str) -> Response:
        current = self.collection.get(proxy)
        fields = _object(_parse(request.body))
        listen_text = _string(fields, "listen", None)
        listen = await self._listen(listen_text) if listen_text is not None else current.listen
        upstream_text = _string(fields, "upstream", None)
        upstream = check_upstream(upstream_text) if upstream_text is not None else current.upstream
        enabled = _bool(fields, "enabled", current.enabled)
        target = self.collection.get(proxy)  # again: it may have gone while we resolved
        try:
            target.update(listen, upstream, enabled)
        except OSError as error:
            raise server_error(error) from None
        return _json(200, target.to_json())

    async def _proxy_delete(self, request: Request, *, proxy: str) -> Response:
        self.collection.remove(proxy)
        return Response(204)

    async def _reset(self, request: Request) -> Response:
        self.collection.reset()
        return Response(204)

    async def _version(self, request: Request) -> Response:
        body = json.dumps({"version": VERSION}) + "\n"
        return Response(200, body.encode(), {"Content-Type": "application/json;charset=utf-8"})

    # -- toxics ---------------------------------------------------------------------------

    async def _toxic_index(self, request: Request, *, proxy: str) -> Response:
        return _json(200, [toxic.to_json() for toxic in self.collection.get(proxy).toxics()])

    async def _toxic_create(self, request: Request, *, proxy: str) -> Response:
        target = self.collection.get(proxy)
        return _json(200, target.add_toxic(_parse(request.body)).to_json())

    async def _toxic_show(self, request: Request, *, proxy: str, toxic: str) -> Response:
        return _json(200, self.collection.get(proxy).toxic(toxic).to_json())

    async def _toxic_update(self, request: Request, *, proxy: str, toxic: str) -> Response:
        target = self.collection.get(proxy)
        target.toxic(toxic)  # 404 before the body is read, as in Toxiproxy
        return _json(200, target.update_toxic(toxic, _parse(request.body)).to_json())

    async def _toxic_delete(self, request: Request, *, proxy: str, toxic: str) -> Response:
        self.collection.get(proxy).remove_toxic(toxic)
        return Response(204)

    # -- request fields -------------------------------------------------------------------

    async def _config(self, fields: dict[str, object], *, position: int | None) -> ProxyConfig:
        at = "" if position is None else f" at proxy {position}"
        name = _string(fields, "name", "") or ""
        upstream = _string(fields, "upstream", "") or ""
        if not name:
            raise MISSING_FIELD.joined(f"name{at}")
        if not upstream:
            raise MISSING_FIELD.joined(f"upstream{at}")
        # Go listens on every interface when `listen` is empty; loopback is the safe reading.
        listen = await self._listen(_string(fields, "listen", "") or DEFAULT_LISTEN)
        return ProxyConfig(name, listen, check_upstream(upstream), _bool(fields, "enabled", True))

    async def _listen(self, text: str) -> ListenAddress:
        return await resolve_listen(text, allow_non_loopback=self._allow_non_loopback)


def _parse(body: bytes) -> object:
    """The first JSON value of the body; like Go's json.Decoder, trailing data is ignored."""
    try:
        text = body.decode()
        if not text.strip():
            raise BAD_REQUEST_BODY.joined("EOF")
        value, _ = json.JSONDecoder().raw_decode(text.lstrip())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BAD_REQUEST_BODY.joined(str(error)) from None
    return value


def _object(value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise BAD_REQUEST_BODY.joined("expected a JSON object")
    return value


def _string(fields: Mapping[str, object], key: str, default: str | None) -> str | None:
    value = fields.get(key)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BAD_REQUEST_BODY.joined(f"{key} must be a string")
    return value


def _bool(fields: Mapping[str, object], key: str, default: bool) -> bool:
    value = fields.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BAD_REQUEST_BODY.joined(f"{key} must be true or false")
    return value


def _json(status: int, value: object) -> Response:
    return Response(status, json.dumps(value, separators=(",", ":")).encode(), JSON)


def _error(error: ApiError) -> Response:
    body = json.dumps(error.body(), separators=(",", ":")) + "\n"  # http.Error adds the newline
    return Response(error.status, body.encode(), JSON)


def _plain(status: int, text: str) -> Response:
    return Response(status, f"{text}\n".encode(), {"Content-Type": "text/plain; charset=utf-8"})
