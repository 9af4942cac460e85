"""The fakes of the outside world speak the real wire formats: AniList's GraphQL API,
Discord's interactions and webhooks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from stackproof.fakes.anilist import AniListFake, anilist_routes
from stackproof.fakes.discord import APPLICATION_COMMAND, DiscordSigner
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
        ('{ Media(search: "x") { id nope } }', "Cannot query field 'nope' on type 'Media'."),
        ('{ Media(search: "x") { title } }', "Field 'title' of type 'MediaTitle' must have"),
        ('{ Media(search: "x") { id { x } } }', "Field 'id' must not have a selection"),
        ("{ Media(colour: RED) { id } }", "Unknown argument 'colour' on field 'Query.Media'."),
        ("{ Page { id } }", "Cannot query field 'id' on type 'Page'."),
        ("{ Anime { id } }", "Cannot query field 'Anime' on type 'Query'."),
        ("{ Media(type: SERIES) { id } }", "Value 'SERIES' does not exist in 'MediaType' enum."),
        ('{ Media(search: "x") { id }', "Syntax Error: Expected Name, found <EOF>."),
        ("mutation { SaveMediaListEntry { id } }", "The mutation operation is not supported"),
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


def test_literals_defaults_and_aliases(anilist: tuple[str, AniListFake]) -> None:
    url, _ = anilist
    query = "query Q($a: [Int!] = [1, 199]) {\n  x: Media(id_in: $a, isAdult: false) { id }\n}"
    response = ask(url, query)
    assert response.json() == {"data": {"x": {"id": 199}}}  # the more popular of the two
    missing = ask(url, "query Q($a: [Int!] = [404]) {\n  x: Media(id_in: $a) { id }\n}")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["locations"] == [{"line": 2, "column": 3}]


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


# -- what the hand-written GraphQL parser got wrong (issue 12 part 7) -----------------------


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ('{ Media(search: "Pokémon", type: ANIME) { id title { english native } } }', {}),
        ('{ Media(search: "Pok\\u00e9mon", type: ANIME) { id title { english native } } }', {}),
        (
            "query ($s: String) { Media(search: $s, type: ANIME) { id title { english native } } }",
            {"s": "Pokémon"},
        ),
        (
            'query ($s: String = "Pokémon") { Media(search: $s) { id title { english native } } }',
            {},
        ),
    ],
    ids=["literal", "escaped-literal", "variable", "variable-default"],
)
def test_unicode_arrives_as_sent(
    anilist: tuple[str, AniListFake], query: str, variables: dict[str, str]
) -> None:
    url, _ = anilist
    response = httpx.post(url, json={"query": query, "variables": variables}, timeout=5)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["Media"] == {
        "id": 527,
        "title": {"english": "Pokémon", "native": "ポケットモンスター"},
    }


def test_fragments_named_and_inline(anilist: tuple[str, AniListFake]) -> None:
    url, _ = anilist
    query = """
    query ($s: String) { Media(search: $s) { ...Core ... on Media { episodes } } }
    fragment Core on Media { id title { ...Titles } }
    fragment Titles on MediaTitle { romaji }
    """
    response = ask(url, query, s="bebop")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "data": {"Media": {"id": 1, "title": {"romaji": "Cowboy Bebop"}, "episodes": 26}}
    }


def test_a_block_string_argument(anilist: tuple[str, AniListFake]) -> None:
    url, _ = anilist
    query = '{ Media(search: """\n    Spirited "Away"\n  """) { id } }'
    response = ask(url, query)
    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"Media": {"id": 199}}}


def test_an_unknown_field_is_anilists_error(anilist: tuple[str, AniListFake]) -> None:
    url, _ = anilist
    response = ask(url, '{ Media(search: "bebop") {\n  id\n  nope\n} }')
    assert response.status_code == 400
    assert response.json() == {
        "errors": [
            {
                "message": "Cannot query field 'nope' on type 'Media'. Did you mean 'type'?",
                "status": 400,
                "locations": [{"line": 3, "column": 3}],
            }
        ],
        "data": None,
    }


def test_a_page_of_media(anilist: tuple[str, AniListFake]) -> None:
    url, _ = anilist
    query = """query ($t: MediaType) {
      Page(page: 1, perPage: 2) {
        pageInfo { total perPage currentPage lastPage hasNextPage }
        media(type: $t) { id }
      }
    }"""
    response = ask(url, query, t="ANIME")
    assert response.status_code == 200, response.text
    page = response.json()["data"]["Page"]
    assert page["pageInfo"] == {
        "total": 7,
        "perPage": 2,
        "currentPage": 1,
        "lastPage": 4,
        "hasNextPage": True,
    }
    assert [m["id"] for m in page["media"]] == [16498, 5114]  # the most popular first


def test_head_is_answered_as_get_is(anilist: tuple[str, AniListFake]) -> None:
    url, _ = anilist
    get = httpx.get(url, params={"query": "{ Media(id: 1) { id } }"}, timeout=5)
    head = httpx.head(url, params={"query": "{ Media(id: 1) { id } }"}, timeout=5)
    assert (get.status_code, head.status_code) == (200, 200)
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]


def test_the_framework_answers_unknown_paths_and_methods(anilist: tuple[str, AniListFake]) -> None:
    url, _ = anilist
    assert httpx.get(f"{url}/no/such/path", timeout=5).status_code == 404
    wrong = httpx.patch(f"{url}/_stackproof/outage", timeout=5)
    assert wrong.status_code == 405
    assert set(wrong.headers["allow"].replace(" ", "").split(",")) == {"PUT", "DELETE"}


def test_the_webhook_answers_head_and_wrong_methods() -> None:
    with WebhookReceiver() as webhook:
        head = httpx.head(webhook.url, timeout=5)
        get = httpx.get(webhook.url, timeout=5)
    assert (head.status_code, get.status_code) == (405, 405)
    assert head.headers["allow"] == "POST"
