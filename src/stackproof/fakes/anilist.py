"""A fake of AniList's GraphQL API (`POST https://graphql.anilist.co`), for the bot's lookups.

graphql-core runs each query against the part of AniList's schema the fake serves
(`anilist_graphql`: `Media`, `Page { pageInfo media }`, `Viewer`) over a small catalog of real
titles (`anilist_catalog`), and answers as AniList does — only the fields asked for, under
their aliases, errors in AniList's shape:

    POST /  {"query": "query ($search: String) { Media(search: $search, type: ANIME)
             { id title { romaji english } siteUrl } }", "variables": {"search": "bebop"}}
    200     {"data": {"Media": {"id": 1, "title": {...}, "siteUrl": "https://anilist.co/anime/1"}}}
    404     {"errors": [{"message": "Not Found.", "status": 404, "locations": [...]}],
             "data": {"Media": null}}                                  (no such title)
    400     {"errors": [{"message": "Cannot query field ...", "status": 400, ...}], "data": null}
    429     {"errors": [{"message": "Too Many Requests.", "status": 429}], "data": null}
             with Retry-After, after `rate_limit` requests within a minute (AniList: 90)

`GET /?query=...&variables=<JSON>` works too. Every answer carries AniList's
`X-RateLimit-Limit` and `X-RateLimit-Remaining` headers.
Run it as a service of a profile: `python -m stackproof.fakes.anilist --port N`.

An outage can be switched on for error-path tests: `PUT /_stackproof/outage {"status": 500}`
makes every query answer that status with AniList's error body until `DELETE /_stackproof/outage`.

With `oauth` (an `anilist_oauth.AniListOAuth`), the fake also speaks AniList's OAuth
authorize and token endpoints (`/api/v2/oauth/*`, on anilist.co) and answers `Viewer` for the
tokens it issued (without a valid `Authorization: Bearer` token: 400 "Invalid token.").
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLObjectType,
    GraphQLResolveInfo,
    InlineFragmentNode,
    get_named_type,
)
from graphql.execution.values import get_argument_values

from stackproof.errors import ServiceStartError
from stackproof.fakes.anilist_catalog import CATALOG, matching
from stackproof.fakes.anilist_graphql import (
    NotFoundError,
    Outcome,
    RequestRefusedError,
    request_error,
    run,
)
from stackproof.fakes.anilist_oauth import AniListOAuth
from stackproof.fakes.httpfake import (
    LOOPBACK,
    Answer,
    FakeServer,
    Request,
    Routes,
    stop_on_signals,
)

RATE_LIMIT_PER_MINUTE: Final = 90
PER_PAGE_MAX: Final = 50  # AniList's cap on `perPage`
Info = GraphQLResolveInfo  # what graphql-core hands each resolver


class RateLimit:
    """AniList's per-client limit: `per_minute` requests in any 60 s."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    def take(self) -> tuple[bool, int, int]:
        """(allowed, remaining, seconds until a slot frees)."""
        now = time.monotonic()
        with self._lock:
            while self._seen and now - self._seen[0] >= 60:
                self._seen.popleft()
            if len(self._seen) >= self.per_minute:
                return False, 0, max(1, int(60 - (now - self._seen[0])) + 1)
            self._seen.append(now)
            return True, self.per_minute - len(self._seen), 0


class AniListFake:
    """The GraphQL endpoint over a catalog; counts what it answered, for assertions."""

    def __init__(
        self,
        catalog: Sequence[Mapping[str, Any]] = CATALOG,
        rate_limit: int = RATE_LIMIT_PER_MINUTE,
        oauth: AniListOAuth | None = None,
    ) -> None:
        self.catalog = catalog
        self.oauth = oauth
        self.limit = RateLimit(rate_limit)
        self.requests = 0
        self.outage_status: int | None = None  # every query fails with it while set

    def set_outage(self, request: Request) -> Answer:
        body = request.json() if request.body else {}
        status = body.get("status", 500) if isinstance(body, dict) else None
        if not isinstance(status, int) or not 400 <= status <= 599:
            return Answer.json(400, {"message": 'expected {"status": 400..599}'})
        self.outage_status = status
        return Answer.json(200, {"outage_status": status})

    def end_outage(self, request: Request) -> Answer:
        self.outage_status = None
        return Answer.json(200, {"outage_status": None})

    def graphql(self, request: Request) -> Answer:
        self.requests += 1
        if (status := self.outage_status) is not None:
            return _errors(status, [{"message": "Internal Server Error.", "status": status}], {})
        allowed, remaining, retry_after = self.limit.take()
        headers = {
            "X-RateLimit-Limit": str(self.limit.per_minute),
            "X-RateLimit-Remaining": str(remaining),
        }
        if not allowed:
            headers |= {"Retry-After": str(retry_after), "X-RateLimit-Reset": str(retry_after)}
            return _errors(429, [{"message": "Too Many Requests.", "status": 429}], headers)
        outcome = self._execute_request(request)
        return Answer.json(outcome.status, outcome.body, headers)

    def _execute_request(self, request: Request) -> Outcome:
        try:
            body = request.json() if request.method == "POST" else _query_string(request)
        except ValueError:
            return request_error("Syntax Error: the request body is not JSON.")
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("query"), str)
            or not body["query"]
        ):
            return request_error("Must provide query string.")
        variables = body.get("variables") or {}
        if not isinstance(variables, dict):
            return request_error(
                "Variables must be provided as an Object where each property is a variable value."
            )
        operation = body.get("operationName")
        return self.execute(
            body["query"],
            variables,
            request.headers.get("authorization"),
            operation if isinstance(operation, str) else None,
        )

    def execute(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        authorization: str | None = None,
        operation_name: str | None = None,
    ) -> Outcome:
        """One GraphQL request, answered as AniList would (status and body)."""
        root = {
            "Media": self._media,
            "Page": self._page,
            "Viewer": lambda info: self._viewer(authorization),
        }
        return run(query, variables, root, operation_name)

    def _media(self, info: Info, **arguments: Any) -> Any:
        found = matching(self.catalog, arguments)
        if not found:
            raise NotFoundError
        return found[0]

    def _page(self, info: Info, page: int | None = None, perPage: int | None = None) -> Any:
        page, per_page = max(1, page or 1), min(max(1, perPage or PER_PAGE_MAX), PER_PAGE_MAX)
        total = len(matching(self.catalog, _media_arguments(info)))

        def media(info: Info, **arguments: Any) -> list[Any]:
            return matching(self.catalog, arguments)[(page - 1) * per_page : page * per_page]

        last = max(1, math.ceil(total / per_page))
        page_info = {"total": total, "perPage": per_page, "currentPage": page, "lastPage": last}
        return {"pageInfo": page_info | {"hasNextPage": page < last}, "media": media}

    def _viewer(self, authorization: str | None) -> Any:
        account = self.oauth.viewer(authorization) if self.oauth is not None else None
        if account is None:
            raise RequestRefusedError(400, "Invalid token.")
        return {
            "id": account.id,
            "name": account.name,
            "siteUrl": f"https://anilist.co/user/{account.name}",
        }


def _media_arguments(info: Info) -> dict[str, Any]:
    """The arguments of the `media` list this Page selects: what its `pageInfo` counts."""
    page_type = get_named_type(info.return_type)
    assert isinstance(page_type, GraphQLObjectType)
    media_field = page_type.fields["media"]
    pending = [info.field_nodes[0].selection_set]
    while pending:
        selections = pending.pop(0)
        for node in selections.selections if selections else ():
            if isinstance(node, FieldNode) and node.name.value == "media":
                return get_argument_values(media_field, node, info.variable_values)
            if isinstance(node, InlineFragmentNode):
                pending.append(node.selection_set)
            if isinstance(node, FragmentSpreadNode):
                pending.append(info.fragments[node.name.value].selection_set)
    return {}


def _query_string(request: Request) -> dict[str, Any]:
    def first(name: str) -> str:
        return (request.query.get(name) or [""])[0]

    found: dict[str, Any] = {"query": first("query")}
    if operation := first("operationName"):
        found["operationName"] = operation
    if variables := first("variables"):
        found["variables"] = json.loads(variables)
    return found


def _errors(status: int, errors: list[dict[str, Any]], headers: Mapping[str, str]) -> Answer:
    return Answer.json(status, {"errors": errors, "data": None}, headers)


def _http_error(status: int, phrase: str) -> Answer:
    """An unknown path or method, in AniList's error shape."""
    return _errors(status, [{"message": f"{phrase}.", "status": status}], {})


def anilist_routes(fake: AniListFake) -> Routes:
    routes = Routes(error=_http_error)
    routes.add("POST", "/", fake.graphql)
    routes.add("GET", "/", fake.graphql)
    routes.add("PUT", "/_stackproof/outage", fake.set_outage)
    routes.add("DELETE", "/_stackproof/outage", fake.end_outage)
    if fake.oauth is not None:
        fake.oauth.add_routes(routes)
    return routes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stackproof.fakes.anilist", description=__doc__)
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--rate-limit", type=int, default=RATE_LIMIT_PER_MINUTE, help="per minute")
    parser.add_argument("--client-id", help="the OAuth client allowed to link (enables OAuth)")
    parser.add_argument("--client-secret", default="", help="that client's secret")
    parser.add_argument("--token-canary", default="", help="prefix of every access token")
    args = parser.parse_args(argv)
    oauth = (
        AniListOAuth(args.client_id, args.client_secret, args.token_canary)
        if args.client_id
        else None
    )
    fake = AniListFake(rate_limit=args.rate_limit, oauth=oauth)
    stop = stop_on_signals()
    try:
        server = FakeServer(anilist_routes(fake), args.host, args.port, name="AniList").start()
    except ServiceStartError as error:
        print(f"anilist fake: {error}", file=sys.stderr)
        return 1
    try:
        print(f"anilist fake on {server.url}", flush=True)
        stop.wait()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
