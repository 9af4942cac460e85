"""AniList's GraphQL as the fake serves it: the schema of the part of AniList's API it answers,
run by graphql-core, with errors in AniList's shape.

The schema keeps AniList's names, types and arguments for what it holds (`Media`, `Page` with
`pageInfo` and `media`, `Viewer`), so a query written against AniList validates here as it
does there, fragments, block strings, directives and introspection included. AniList answers
every error as `{"message", "status", "locations"}`; the HTTP status is the first error's:
400 for a query it cannot run (no `data`), 404 when a `Media` is not found (`data` kept).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from graphql import (
    ExecutionResult,
    GraphQLError,
    GraphQLSchema,
    build_schema,
    execute,
    parse,
    validate,
)

SDL: Final = """
type Query {
  "Media query"
  Media(
    id: Int, idMal: Int, season: MediaSeason, seasonYear: Int, type: MediaType,
    format: MediaFormat, status: MediaStatus, episodes: Int, duration: Int, chapters: Int,
    volumes: Int, isAdult: Boolean, genre: String, tag: String, source: MediaSource,
    countryOfOrigin: CountryCode, search: String, id_not: Int, id_in: [Int],
    id_not_in: [Int], idMal_not: Int, idMal_in: [Int], idMal_not_in: [Int],
    format_in: [MediaFormat], format_not: MediaFormat, format_not_in: [MediaFormat],
    status_in: [MediaStatus], status_not: MediaStatus, status_not_in: [MediaStatus],
    genre_in: [String], genre_not_in: [String], sort: [MediaSort]
  ): Media
  "Page of data"
  Page("The page number" page: Int, "The amount of entries per page, max 50" perPage: Int): Page
  "Get the currently authenticated user"
  Viewer: User
}

type Page {
  "The pagination information"
  pageInfo: PageInfo
  media(
    id: Int, idMal: Int, season: MediaSeason, seasonYear: Int, type: MediaType,
    format: MediaFormat, status: MediaStatus, episodes: Int, duration: Int, chapters: Int,
    volumes: Int, isAdult: Boolean, genre: String, tag: String, source: MediaSource,
    countryOfOrigin: CountryCode, search: String, id_not: Int, id_in: [Int],
    id_not_in: [Int], idMal_not: Int, idMal_in: [Int], idMal_not_in: [Int],
    format_in: [MediaFormat], format_not: MediaFormat, format_not_in: [MediaFormat],
    status_in: [MediaStatus], status_not: MediaStatus, status_not_in: [MediaStatus],
    genre_in: [String], genre_not_in: [String], sort: [MediaSort]
  ): [Media]
}

type PageInfo {
  total: Int
  perPage: Int
  currentPage: Int
  lastPage: Int
  hasNextPage: Boolean
}

"Anime or Manga"
type Media {
  id: Int!
  idMal: Int
  title: MediaTitle
  type: MediaType
  format: MediaFormat
  status(version: Int): MediaStatus
  description(asHtml: Boolean): String
  startDate: FuzzyDate
  endDate: FuzzyDate
  season: MediaSeason
  seasonYear: Int
  episodes: Int
  duration: Int
  chapters: Int
  volumes: Int
  countryOfOrigin: CountryCode
  source(version: Int): MediaSource
  coverImage: MediaCoverImage
  bannerImage: String
  genres: [String]
  synonyms: [String]
  averageScore: Int
  meanScore: Int
  popularity: Int
  favourites: Int
  isAdult: Boolean
  siteUrl: String
}

type MediaTitle {
  romaji(stylised: Boolean): String
  english(stylised: Boolean): String
  native(stylised: Boolean): String
  userPreferred: String
}

type MediaCoverImage {
  extraLarge: String
  large: String
  medium: String
  color: String
}

type FuzzyDate {
  year: Int
  month: Int
  day: Int
}

"A user"
type User {
  id: Int!
  name: String!
  siteUrl: String
}

"ISO 3166-1 alpha-2 country code"
scalar CountryCode

enum MediaType { ANIME MANGA }
enum MediaFormat { TV TV_SHORT MOVIE SPECIAL OVA ONA MUSIC MANGA NOVEL ONE_SHOT }
enum MediaStatus { FINISHED RELEASING NOT_YET_RELEASED CANCELLED HIATUS }
enum MediaSeason { WINTER SPRING SUMMER FALL }
enum MediaSource {
  ORIGINAL MANGA LIGHT_NOVEL VISUAL_NOVEL VIDEO_GAME OTHER NOVEL DOUJINSHI ANIME WEB_NOVEL
  LIVE_ACTION GAME COMIC MULTIMEDIA_PROJECT PICTURE_BOOK
}
enum MediaSort {
  ID ID_DESC TITLE_ROMAJI TITLE_ROMAJI_DESC TITLE_ENGLISH TITLE_ENGLISH_DESC TITLE_NATIVE
  TITLE_NATIVE_DESC TYPE TYPE_DESC FORMAT FORMAT_DESC START_DATE START_DATE_DESC END_DATE
  END_DATE_DESC SCORE SCORE_DESC POPULARITY POPULARITY_DESC TRENDING TRENDING_DESC EPISODES
  EPISODES_DESC DURATION DURATION_DESC STATUS STATUS_DESC CHAPTERS CHAPTERS_DESC VOLUMES
  VOLUMES_DESC UPDATED_AT UPDATED_AT_DESC SEARCH_MATCH FAVOURITES FAVOURITES_DESC
}
"""

SCHEMA: Final[GraphQLSchema] = build_schema(SDL)
log = logging.getLogger(__name__)


class NotFoundError(Exception):
    """A `Media` the arguments select does not exist: AniList's 404, with `data` kept."""

    status = 404

    def __init__(self) -> None:
        super().__init__("Not Found.")


class RequestRefusedError(Exception):
    """The whole request is refused (an invalid token): AniList answers it before any field."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Outcome:
    status: int
    body: dict[str, Any]


def request_error(message: str, status: int = 400) -> Outcome:
    """A request that never reached GraphQL (no query, variables that are not an object)."""
    return Outcome(status, {"errors": [{"message": message, "status": status}], "data": None})


def run(
    query: str,
    variables: Mapping[str, Any] | None,
    root: Mapping[str, Any],
    operation_name: str | None = None,
) -> Outcome:
    """Parse, validate and execute `query` against the root's resolvers, as AniList answers."""
    try:
        document = parse(query)
    except GraphQLError as error:
        return _refused([error])
    if errors := validate(SCHEMA, document):
        return _refused(errors)
    result = execute(
        SCHEMA,
        document,
        root_value=root,
        variable_values=dict(variables or {}),
        operation_name=operation_name,
    )
    assert isinstance(result, ExecutionResult)  # no resolver here is async
    return _answer(result)


def _answer(result: ExecutionResult) -> Outcome:
    errors = result.errors or []
    for error in errors:
        if isinstance(refused := error.original_error, RequestRefusedError):
            return Outcome(
                refused.status, {"errors": [_shape(error, refused.status)], "data": None}
            )
    if result.data is None:  # variables that do not fit, no operation to run
        return _refused(errors)
    if not errors:
        return Outcome(200, {"data": result.data})
    shaped = [_shape(error, _status_of(error)) for error in errors]
    return Outcome(shaped[0]["status"], {"errors": shaped, "data": result.data})


def _status_of(error: GraphQLError) -> int:
    """A field's error: what the resolver said (404), else the fake's own bug (500)."""
    status = getattr(error.original_error, "status", None)
    if isinstance(status, int):
        return status
    log.warning("AniList fake: a field failed: %s", error, exc_info=error.original_error)
    return 500


def _refused(errors: list[GraphQLError]) -> Outcome:
    return Outcome(400, {"errors": [_shape(error, 400) for error in errors], "data": None})


def _shape(error: GraphQLError, status: int) -> dict[str, Any]:
    """AniList's error object: message, status, and where in the query (when known)."""
    message = error.message if status != 500 else "Internal Server Error."
    shaped: dict[str, Any] = {"message": message, "status": status}
    if error.locations:
        shaped["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    return shaped
