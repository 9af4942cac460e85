"""The requirement catalog: stable IDs, their text, and the suite that proves them.

The catalog is `requirements.md` beside this module, a copy of the project's requirement
document; it is parsed rather than transcribed so the two cannot drift apart silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_SECTION = re.compile(r"^##\s+(?P<title>.+?)(?:\s+\(suite\s+`(?P<suite>[a-z]+)`\))?\s*$")
_ITEM = re.compile(r"^-\s+\*\*(?P<id>R-[A-Z]+-\d+)\*\*\s+(?P<text>.+)$")
# Trailing source references such as "(001)" or "(000, 004)" name seed documents, not text.
_SOURCES = re.compile(r"\s*\(\d{3}[^)]*\)\s*$")


@dataclass(frozen=True, slots=True)
class Requirement:
    """One catalog entry."""

    id: str
    title: str
    text: str
    suite: str
    section: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"R-[A-Z]+-\d+", self.id):
            raise ValueError(f"requirement id {self.id!r} is not of the form R-XXX-N")


def _plain(markdown: str) -> str:
    """Drop the emphasis and code marks of the catalog's markdown."""
    return re.sub(r"[*`]", "", markdown).strip()


def _first_sentence(text: str) -> str:
    """Text up to the first '.' or ';' that ends a clause outside parentheses."""
    depth = 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        at_clause_end = index + 1 == len(text) or text[index + 1] == " "
        if depth == 0 and char in ".;" and at_clause_end:
            return text[:index]
    return text


def parse_catalog(markdown: str) -> tuple[Requirement, ...]:
    """Parse the catalog document; requirements keep their document order."""
    section, suite = "", ""
    found: list[Requirement] = []
    for line in markdown.splitlines():
        if heading := _SECTION.match(line):
            section = heading.group("title")
            suite = heading.group("suite") or ""
            continue
        if item := _ITEM.match(line.strip()):
            text = _SOURCES.sub("", _plain(item.group("text"))).strip()
            found.append(
                Requirement(
                    id=item.group("id"),
                    title=_first_sentence(text),
                    text=text,
                    suite=suite,
                    section=section,
                )
            )
    ids = [r.id for r in found]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"the requirement catalog repeats {', '.join(duplicates)}")
    return tuple(found)


@cache
def catalog() -> tuple[Requirement, ...]:
    """The packaged catalog."""
    text = resources.files(__package__).joinpath("requirements.md").read_text("utf-8")
    return parse_catalog(text)


@cache
def by_id() -> dict[str, Requirement]:
    return {requirement.id: requirement for requirement in catalog()}
