"""The fakes of the outside world speak the real wire formats: AniList's GraphQL API,
Discord's interactions and webhooks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from stackproof.fakes.anilist import AniListFake, anilist_routes
from stackproof.fakes.discord import APPLICATION_COMMAND, DiscordSigner
from stackproof.fakes.graphql import GraphQLError, parse
from stackproof.fakes.httpfake import FakeServer
from stackproof.fakes.webhook import WebhookReceiver

MEDIA_QUERY = """
query ($search: String) {   # as the bot asks it
  Media(search: $search, type: ANIME) {
    id
    siteUrl
    name: title { romaji english }
    episodes
    __typename
  }
}
"""


@pytest.fixture
def anilist() -> Iterator[tuple[str, AniListFake]]:
    fake = AniListFake(rate_limit=5)
    with FakeServer(anilist_routes(fake)) as server:
        yield server.url, fake


def ask(url: str, query: str, **variables: object) -> httpx.Response:
    return httpx.post(url, json={"query": query, "variables": variables}, timeout=5)


def test_media_answers_only_the_fields_asked_for(anilist: tuple[str, AniListFake]) -> None:
    url, fake = anilist
    response = ask(url, MEDIA_QUERY, search="cowboy bebop")
    assert response.status_code == 200
    assert response.json() == {
        "data": {
            "Media": {
                "id": 1,
                "siteUrl": "https://anilist.co/anime/1",
                "name": {"romaji": "Cowboy Bebop", "english": "Cowboy Bebop"},
                "episodes": 26,
                "__typename": "Media",
            }
        }
    }
    assert response.headers["X-RateLimit-Limit"] == "5"
    assert response.headers["X-RateLimit-Remaining"] == "4"
    assert fake.requests == 1


def test_search_matches_any_title_and_the_type(anilist: tuple[str, AniListFake]) -> None:
    url, _ = anilist
    query = "query ($s: String, $t: MediaType) { Media(search: $s, type: $t) { id type } }"
    assert ask(url, query, s="Spirited away", t="ANIME").json()["data"]["Media"]["id"] == 199
    assert ask(url, query, s="berserk", t="MANGA").json()["data"]["Media"]["type"] == "MANGA"


def test_no_match_is_anilists_404(anilist: tuple[str, AniListFake]) -> None:
    url, _ = anilist
    response = ask(url, MEDIA_QUERY, search="no such anime at all")
    assert response.status_code == 404
    body = response.json()
    assert body["data"] == {"Media": None}
    assert body["errors"][0]["message"] == "Not Found."
    assert body["errors"][0]["status"] == 404
    assert body["errors"][0]["locations"] == [{"line": 3, "column": 3}]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ('{ Media(search: "x") { id nope } }', 'Cannot query field "nope" on type "Media".'),
        ('{ Media(search: "x") { title } }', 'Field "title" of type "MediaTitle" must have'),
        ('{ Media(search: "x") { id { x } } }', 'Field "id" must not have a selection'),
        ("{ Media(colour: RED) { id } }", 'Unknown argument "colour" on field "Media"'),
        ("{ Page { id } }", 'Cannot query field "Page" on type "Query".'),
        ('{ Media(search: "x") { id }', "Syntax Error: Expected Name, found <EOF>."),
        ("mutation { SaveMediaListEntry { id } }", "This fake answers queries, not mutations."),
    ],
)
def test_invalid_queries_get_graphql_errors(
    anilist: tuple[str, AniListFake], query: str, message: str
) -> None:
    url, _ = anilist
    response = ask(url, query)
    assert response.status_code == 400
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["message"].startswith(message)


def test_a_missing_query_and_the_rate_limit(anilist: tuple[str, AniListFake]) -> None:
    url, _ = anilist
    missing = httpx.post(url, json={}, timeout=5)
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["message"] == "Must provide query string."
    for _ in range(4):  # with the one above: the limit of 5 per minute
        ask(url, MEDIA_QUERY, search="bebop")
    limited = ask(url, MEDIA_QUERY, search="bebop")
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Remaining"] == "0"


def test_the_parser_reads_literals_aliases_and_locations() -> None:
    operation = parse("query Q($a: [Int!] = [1, 2]) {\n  x: Media(id: 5, isAdult: false) { id }\n}")
    assert operation.variables == {"a": [1, 2]}
    field = operation.selections[0]
    assert (field.key, field.name, dict(field.arguments)) == (
        "x",
        "Media",
        {"id": 5, "isAdult": False},
    )
    assert (field.line, field.column) == (2, 3)
    with pytest.raises(GraphQLError, match="fragments"):
        parse("{ Media { ...F } }")


def test_an_application_command_interaction_is_discords_shape() -> None:
    signer = DiscordSigner()
    first = signer.command("anime", {"query": "bebop"})
    second = signer.command("anime", {"query": "bebop"})
    assert first["type"] == APPLICATION_COMMAND
    assert first["data"]["name"] == "anime"
    assert first["data"]["options"] == [{"name": "query", "type": 3, "value": "bebop"}]
    assert first["member"]["user"]["id"].isdigit()
    assert int(second["id"]) > int(first["id"])  # snowflakes grow with time and sequence
    assert int(first["id"]) >> 22 > 0  # milliseconds since Discord's epoch


def test_the_webhook_receiver_executes_like_discord() -> None:
    with WebhookReceiver() as webhook:
        assert httpx.post(webhook.url, json={"content": "DOWN: bot"}, timeout=5).status_code == 204
        waited = httpx.post(
            webhook.url + "?wait=true", json={"embeds": [{"title": "UP"}]}, timeout=5
        )
        assert waited.status_code == 200
        assert waited.json()["webhook_id"] == webhook.webhook_id
        empty = httpx.post(webhook.url, json={"content": ""}, timeout=5)
        assert (empty.status_code, empty.json()["code"]) == (400, 50006)
        wrong = httpx.post(webhook.url[:-3] + "xyz", json={"content": "x"}, timeout=5)
        assert (wrong.status_code, wrong.json()["code"]) == (401, 50027)
        assert [m.text for m in webhook.messages()] == ["DOWN: bot", "UP"]
