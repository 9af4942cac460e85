"""Title aliases: the nicknames players use for a title ("aot"), turned into the search
AniList knows before it is asked. They live in an optional file (TITLE_ALIASES_FILE, a JSON
object of nickname -> title), read on each lookup so an edit needs no restart. Without it a
search goes to AniList as typed: a degradation readiness reports, never a reason to be
unready (R-HLT-5).

`python -m refstack.bot.aliases PATH` writes the default aliases (a setup step).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DEFAULTS = {
    "aot": "Attack on Titan",
    "bebop": "Cowboy Bebop",
    "fmab": "Fullmetal Alchemist: Brotherhood",
    "jjk": "Jujutsu Kaisen",
}


class Aliases:
    def __init__(self, path: Path | None) -> None:
        self.path = path

    def resolve(self, search: str) -> str:
        """The title `search` is a nickname of, or `search` itself (also without the file)."""
        if self.path is None:
            return search
        try:
            table = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return search
        found = table.get(search.casefold()) if isinstance(table, dict) else None
        return found if isinstance(found, str) and found else search


def main(path: str) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(DEFAULTS, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1])
