"""The AniList fake's catalog: real titles with AniList's data, and how arguments select them.

`matching(catalog, arguments)` is AniList's `Media`/`Page.media` filtering for the arguments
the schema has: equality (`type`, `format`, `seasonYear`, ...), `_in`/`_not`/`_not_in`,
`genre`, and `search` (every word of it in one title or synonym, in any case or script).
The order is `sort`'s first key; without one, or for one the catalog has no data for
(`TRENDING`, `UPDATED_AT`, `SEARCH_MATCH`), the most popular first. The catalog holds no tags:
a `tag` argument matches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final


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
        527, 527, "Pokémon", "Pokémon", "ポケットモンスター",
        format="TV", status="FINISHED", episodes=276, duration=24, season="SPRING",
        seasonYear=1997, startDate={"year": 1997, "month": 4, "day": 1},
        endDate={"year": 2002, "month": 11, "day": 14}, averageScore=74, meanScore=75,
        popularity=170000, favourites=9000, source="VIDEO_GAME", synonyms=["Pocket Monsters"],
        genres=["Action", "Adventure", "Comedy", "Fantasy"],
        description="Ash Ketchum sets out from Pallet Town to become the world's greatest "
        "Pokémon trainer, with Pikachu at his side.",
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


def _found_by(media: Mapping[str, Any], wanted: str) -> bool:
    titles = [*media["title"].values(), *media.get("synonyms", [])]
    names = [" ".join(_words(title)) for title in titles if title]
    return any(all(word in name for word in _words(wanted)) for name in names)


def _holds(media: Mapping[str, Any], argument: str, value: Any) -> bool:
    """Does `media` meet one argument (`value` given, not null)?"""
    if argument == "search":
        return _found_by(media, str(value))
    if argument == "sort":
        return True
    name, _, operator = argument.partition("_")  # id, id_in, id_not, id_not_in
    facts = (media.get("genres") or []) if name == "genre" else [media.get(name)]
    wanted = value if operator in ("in", "not_in") else [value]
    hit = any(fact in wanted for fact in facts)
    return not hit if operator in ("not", "not_in") else hit


def _date(field: str) -> Callable[[Mapping[str, Any]], Any]:
    def key(media: Mapping[str, Any]) -> tuple[int, int, int]:
        date = media.get(field) or {}
        return (date.get("year") or 0, date.get("month") or 0, date.get("day") or 0)

    return key


def _title(language: str) -> Callable[[Mapping[str, Any]], Any]:
    return lambda media: (media["title"].get(language) or "").casefold()


def _fact(field: str, missing: Any) -> Callable[[Mapping[str, Any]], Any]:
    return lambda media: media.get(field) or missing


SORT_KEYS: Final[Mapping[str, Callable[[Mapping[str, Any]], Any]]] = {
    "ID": _fact("id", 0),
    "TITLE_ROMAJI": _title("romaji"),
    "TITLE_ENGLISH": _title("english"),
    "TITLE_NATIVE": _title("native"),
    "TYPE": _fact("type", ""),
    "FORMAT": _fact("format", ""),
    "STATUS": _fact("status", ""),
    "START_DATE": _date("startDate"),
    "END_DATE": _date("endDate"),
    "SCORE": _fact("averageScore", 0),
    "POPULARITY": _fact("popularity", 0),
    "FAVOURITES": _fact("favourites", 0),
    "EPISODES": _fact("episodes", 0),
    "DURATION": _fact("duration", 0),
    "CHAPTERS": _fact("chapters", 0),
    "VOLUMES": _fact("volumes", 0),
}


def matching(catalog: Sequence[Mapping[str, Any]], arguments: Mapping[str, Any]) -> list[Any]:
    """The media the arguments select, in the order they ask for."""
    found = [
        media
        for media in catalog
        if all(_holds(media, name, value) for name, value in arguments.items() if value is not None)
    ]
    sort = (arguments.get("sort") or ["POPULARITY_DESC"])[0]
    key = SORT_KEYS.get(sort.removesuffix("_DESC"))
    if key is None:
        return sorted(found, key=SORT_KEYS["POPULARITY"], reverse=True)
    return sorted(found, key=key, reverse=sort.endswith("_DESC"))
