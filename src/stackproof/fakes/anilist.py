"""A fake of AniList's GraphQL API (`POST https://graphql.anilist.co`), for the bot's lookups.

It answers the `Media` query the way AniList does — only the fields asked for, under their
aliases — from a small catalog of real titles:

    POST /  {"query": "query ($search: String) { Media(search: $search, type: ANIME)
             { id title { romaji english } siteUrl } }", "variables": {"search": "bebop"}}
    200     {"data": {"Media": {"id": 1, "title": {...}, "siteUrl": "https://anilist.co/anime/1"}}}
    404     {"errors": [{"message": "Not Found.", "status": 404, "locations": [...]}],
             "data": {"Media": null}}                                  (no such title)
    400     {"errors": [{"message": "Cannot query field ...", ...}], "data": null}
    429     {"errors": [{"message": "Too Many Requests.", "status": 429}], "data": null}
             with Retry-After, after `rate_limit` requests within a minute (AniList: 90)

Every answer carries AniList's `X-RateLimit-Limit` and `X-RateLimit-Remaining` headers.
Run it as a service of a profile: `python -m stackproof.fakes.anilist --port N`.

An outage can be switched on for error-path tests: `PUT /_stackproof/outage {"status": 500}`
makes every query answer that status with AniList's error body until `DELETE /_stackproof/outage`.

Routes are registered in `anilist_routes`, so AniList's OAuth token endpoint
(`POST /api/v2/oauth/token`, on anilist.co) can join the GraphQL route in the same fake.

With `oauth` (an `anilist_oauth.AniListOAuth`), the fake also speaks AniList's OAuth
authorize and token endpoints (`/api/v2/oauth/*`) and answers `Viewer { id name }` for the
tokens it issued (without a valid `Authorization: Bearer` token: 400 "Invalid token.").
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final

from stackproof.fakes.anilist_oauth import AniListOAuth
from stackproof.fakes.graphql import Field, GraphQLError, parse, resolve
from stackproof.fakes.httpfake import LOOPBACK, Answer, FakeServer, Request, Routes

RATE_LIMIT_PER_MINUTE: Final = 90

# Field name -> type name: scalars are None, objects name their own field table.
MEDIA_FIELDS: Final[Mapping[str, str | None]] = {
    "id": None, "idMal": None, "type": None, "format": None, "status": None,
    "description": None, "season": None, "seasonYear": None, "episodes": None,
    "duration": None, "chapters": None, "volumes": None, "genres": None, "synonyms": None,
    "averageScore": None, "meanScore": None, "popularity": None, "favourites": None,
    "isAdult": None, "countryOfOrigin": None, "source": None, "siteUrl": None,
    "bannerImage": None, "title": "MediaTitle", "startDate": "FuzzyDate",
    "endDate": "FuzzyDate", "coverImage": "MediaCoverImage",
}  # fmt: skip
OBJECT_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "MediaTitle": frozenset({"romaji", "english", "native", "userPreferred"}),
    "FuzzyDate": frozenset({"year", "month", "day"}),
    "MediaCoverImage": frozenset({"extraLarge", "large", "medium", "color"}),
}
MEDIA_ARGUMENTS: Final = frozenset(
    {"id", "idMal", "search", "type", "format", "status", "season", "seasonYear", "isAdult",
     "sort", "genre", "tag"}
)  # fmt: skip


def _media(
    id: int, id_mal: int, romaji: str, english: str | None, native: str, **facts: Any
) -> dict[str, Any]:
    kind = facts.pop("type", "ANIME")
    cover = f"https://s4.anilist.co/file/anilistcdn/media/{kind.lower()}/cover"
    return {
        "id": id,
        "idMal": id_mal,
        "type": kind,
        "title": {"romaji": romaji, "english": english, "native": native, "userPreferred": romaji},
        "siteUrl": f"https://anilist.co/{kind.lower()}/{id}",
        "coverImage": {
            "extraLarge": f"{cover}/large/bx{id}.jpg",
            "large": f"{cover}/medium/bx{id}.jpg",
            "medium": f"{cover}/small/bx{id}.jpg",
            "color": None,
        },
        "bannerImage": None,
        "isAdult": False,
        "countryOfOrigin": "JP",
        **facts,
    }


CATALOG: Final[tuple[dict[str, Any], ...]] = (
    _media(
        1, 1, "Cowboy Bebop", "Cowboy Bebop", "カウボーイビバップ",
        format="TV", status="FINISHED", episodes=26, duration=24, season="SPRING",
        seasonYear=1998, startDate={"year": 1998, "month": 4, "day": 3},
        endDate={"year": 1999, "month": 4, "day": 24}, averageScore=86, meanScore=86,
        popularity=380000, favourites=41000, source="ORIGINAL", synonyms=["カウボーイ・ビバップ"],
        genres=["Action", "Adventure", "Drama", "Sci-Fi"],
        description="Enter a world in the distant future, where Bounty Hunters roam the solar "
        "system. Spike and Jet, bounty hunting partners, set out on journeys in an ever "
        "struggling effort to win bounty rewards to survive.",
    ),
    _media(
        5114, 5114, "Hagane no Renkinjutsushi: FULLMETAL ALCHEMIST",
        "Fullmetal Alchemist: Brotherhood", "鋼の錬金術師 FULLMETAL ALCHEMIST",
        format="TV", status="FINISHED", episodes=64, duration=24, season="SPRING",
        seasonYear=2009, startDate={"year": 2009, "month": 4, "day": 5},
        endDate={"year": 2010, "month": 7, "day": 4}, averageScore=90, meanScore=90,
        popularity=760000, favourites=66000, source="MANGA", synonyms=["FMA", "FMAB"],
        genres=["Action", "Adventure", "Drama", "Fantasy"],
        description="Two brothers search for a Philosopher's Stone after an attempt to revive "
        "their deceased mother goes awry and leaves them in damaged physical forms.",
    ),
    _media(
        199, 199, "Sen to Chihiro no Kamikakushi", "Spirited Away", "千と千尋の神隠し",
        format="MOVIE", status="FINISHED", episodes=1, duration=125, season="SUMMER",
        seasonYear=2001, startDate={"year": 2001, "month": 7, "day": 20},
        endDate={"year": 2001, "month": 7, "day": 20}, averageScore=86, meanScore=86,
        popularity=420000, favourites=28000, source="ORIGINAL", synonyms=[],
        genres=["Adventure", "Drama", "Fantasy", "Supernatural"],
        description="Chihiro wanders into a world of spirits and must work in a bathhouse for "
        "witches and gods to free herself and her parents.",
    ),
    _media(
        16498, 16498, "Shingeki no Kyojin", "Attack on Titan", "進撃の巨人",
        format="TV", status="FINISHED", episodes=25, duration=24, season="SPRING",
        seasonYear=2013, startDate={"year": 2013, "month": 4, "day": 7},
        endDate={"year": 2013, "month": 9, "day": 28}, averageScore=85, meanScore=85,
        popularity=870000, favourites=58000, source="MANGA", synonyms=["SnK", "AoT"],
        genres=["Action", "Drama", "Fantasy", "Mystery"],
        description="Humanity lives behind enormous walls that keep out the Titans, until the "
        "day a colossal Titan breaches the outer wall.",
    ),
    _media(
        154587, 52991, "Sousou no Frieren", "Frieren: Beyond Journey's End", "葬送のフリーレン",
        format="TV", status="FINISHED", episodes=28, duration=24, season="FALL",
        seasonYear=2023, startDate={"year": 2023, "month": 9, "day": 29},
        endDate={"year": 2024, "month": 3, "day": 22}, averageScore=90, meanScore=90,
        popularity=390000, favourites=45000, source="MANGA", synonyms=["Frieren"],
        genres=["Adventure", "Drama", "Fantasy"],
        description="The elf mage Frieren outlives the hero's party she travelled with, and "
        "sets out to understand the humans she barely came to know.",
    ),
    _media(
        30, 30, "Shin Seiki Evangelion", "Neon Genesis Evangelion", "新世紀エヴァンゲリオン",
        format="TV", status="FINISHED", episodes=26, duration=24, season="FALL",
        seasonYear=1995, startDate={"year": 1995, "month": 10, "day": 4},
        endDate={"year": 1996, "month": 3, "day": 27}, averageScore=83, meanScore=83,
        popularity=330000, favourites=30000, source="ORIGINAL", synonyms=["NGE", "Eva"],
        genres=["Action", "Drama", "Mecha", "Psychological", "Sci-Fi"],
        description="Fifteen years after a world-wide cataclysm, teenage pilots fight the "
        "Angels in giant biomechanical units.",
    ),
    _media(
        30002, 2, "Berserk", "Berserk", "ベルセルク",
        type="MANGA", format="MANGA", status="RELEASING", chapters=None, volumes=None,
        startDate={"year": 1989, "month": 8, "day": 25}, endDate={"year": None, "month": None,
        "day": None}, averageScore=93, meanScore=93, popularity=200000, favourites=60000,
        source="ORIGINAL", synonyms=[], genres=["Action", "Adventure", "Drama", "Fantasy"],
        description="Guts, a former mercenary now known as the Black Swordsman, is out for "
        "revenge.",
    ),
)  # fmt: skip


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def search(catalog: Sequence[Mapping[str, Any]], arguments: Mapping[str, Any]) -> Any:
    """The one Media the arguments select (the most popular match), or None."""
    found = []
    for media in catalog:
        if arguments.get("type") not in (None, media["type"]):
            continue
        if arguments.get("id") not in (None, media["id"]):
            continue
        if arguments.get("idMal") not in (None, media["idMal"]):
            continue
        if (wanted := arguments.get("search")) is not None:
            titles = [*media["title"].values(), *media.get("synonyms", [])]
            names = [" ".join(_words(title)) for title in titles if title]
            if not any(all(word in name for word in _words(str(wanted))) for name in names):
                continue
        found.append(media)
    return max(found, key=lambda media: media.get("popularity", 0), default=None)


def _fields_of(type_name: str) -> Mapping[str, str | None]:
    if type_name == "Media":
        return MEDIA_FIELDS
    return dict.fromkeys(OBJECT_FIELDS[type_name])


def validate(fields: Sequence[Field], type_name: str) -> None:
    """Check a selection against the schema, as GraphQL does before it runs anything."""
    table = _fields_of(type_name)
    for field in fields:
        if field.name == "__typename":
            continue
        if field.name not in table:
            raise GraphQLError(
                f'Cannot query field "{field.name}" on type "{type_name}".',
                field.line,
                field.column,
            )
        child_type = table[field.name]
        if child_type is None and field.selections:
            raise GraphQLError(
                f'Field "{field.name}" must not have a selection since its type has no subfields.',
                field.line,
                field.column,
            )
        if child_type is not None and not field.selections:
            raise GraphQLError(
                f'Field "{field.name}" of type "{child_type}" must have a selection of '
                f'subfields. Did you mean "{field.name} {{ ... }}"?',
                field.line,
                field.column,
            )
        if child_type is not None:
            validate(field.selections, child_type)


def select(value: Mapping[str, Any], fields: Sequence[Field], type_name: str) -> dict[str, Any]:
    """The fields asked for (already validated), under their keys."""
    table = _fields_of(type_name)
    answer: dict[str, Any] = {}
    for field in fields:
        if field.name == "__typename":
            answer[field.key] = type_name
            continue
        child_type = table[field.name]
        raw = value.get(field.name)
        answer[field.key] = (
            select(raw, field.selections, child_type) if child_type and raw is not None else raw
        )
    return answer


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
        try:
            body = request.json() if request.method == "POST" else _query_string(request)
            query, variables = _query_and_variables(body)
            status, data = self.execute(query, variables, request.headers.get("authorization"))
        except GraphQLError as error:
            return _errors(400, [error.to_json(400)], headers)
        return Answer.json(status, data, headers)

    def execute(
        self, query: str, variables: Mapping[str, Any], authorization: str | None = None
    ) -> tuple[int, dict[str, Any]]:
        operation = parse(query)
        if operation.kind != "query":
            raise GraphQLError(f"This fake answers queries, not {operation.kind}s.")
        data: dict[str, Any] = {}
        not_found: list[dict[str, Any]] = []
        values = {**operation.variables, **variables}
        for field in operation.selections:
            if field.name == "Viewer" and self.oauth is not None:
                account = self.oauth.viewer(authorization)
                if account is None:
                    raise GraphQLError("Invalid token.", field.line, field.column)
                data[field.key] = _viewer(account.id, account.name, field)
                continue
            if field.name != "Media":
                raise GraphQLError(
                    f'Cannot query field "{field.name}" on type "Query".', field.line, field.column
                )
            arguments = {k: resolve(v, values) for k, v in field.arguments.items()}
            if unknown := sorted(set(arguments) - MEDIA_ARGUMENTS):
                raise GraphQLError(
                    f'Unknown argument "{unknown[0]}" on field "Media" of type "Query".',
                    field.line,
                    field.column,
                )
            if not field.selections:
                raise GraphQLError(
                    'Field "Media" of type "Media" must have a selection of subfields.',
                    field.line,
                    field.column,
                )
            validate(field.selections, "Media")
            media = search(self.catalog, arguments)
            if media is None:
                data[field.key] = None
                not_found.append(
                    {
                        "message": "Not Found.",
                        "status": 404,
                        "locations": [{"line": field.line, "column": field.column}],
                    }
                )
                continue
            data[field.key] = select(media, field.selections, "Media")
        if not_found:
            return 404, {"errors": not_found, "data": data}
        return 200, {"data": data}


def _viewer(account_id: int, name: str, field: Field) -> dict[str, Any]:
    known = {"id": account_id, "name": name, "__typename": "User"}
    for wanted in field.selections:
        if wanted.name not in known:
            raise GraphQLError(
                f'Cannot query field "{wanted.name}" on type "User".', wanted.line, wanted.column
            )
    return {wanted.key: known[wanted.name] for wanted in field.selections}


def _query_string(request: Request) -> dict[str, Any]:
    return {"query": (request.query.get("query") or [""])[0]}


def _query_and_variables(body: Any) -> tuple[str, Mapping[str, Any]]:
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"]:
        raise GraphQLError("Must provide query string.")
    variables = body.get("variables") or {}
    if not isinstance(variables, dict):
        raise GraphQLError(
            "Variables must be provided as an Object where each property is a variable value."
        )
    return body["query"], variables


def _errors(status: int, errors: list[dict[str, Any]], headers: Mapping[str, str]) -> Answer:
    return Answer.json(status, {"errors": errors, "data": None}, headers)


def anilist_routes(fake: AniListFake) -> Routes:
    routes = Routes()
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
    server = FakeServer(anilist_routes(fake), args.host, args.port)
    print(f"anilist fake on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
