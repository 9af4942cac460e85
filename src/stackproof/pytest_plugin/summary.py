"""The verdict table printed at the end of a run."""

from __future__ import annotations

from stackproof.results.model import Results
from stackproof.results.write import headline

TITLE_WIDTH = 70


def verdict_table(results: Results) -> list[str]:
    lines = []
    covered = [r for r in results.requirements if r.verdict != "not_covered"]
    for requirement in covered:
        title = requirement.title
        if len(title) > TITLE_WIDTH:
            title = title[: TITLE_WIDTH - 1] + "…"
        lines.append(f"{requirement.id:<10} {requirement.verdict.upper():<7} {title}")
        if requirement.verdict in ("fail", "error"):
            for test in requirement.tests:
                if test.outcome in ("fail", "error") and test.message:
                    first = test.message.strip().splitlines()[0]
                    lines.append(f"{'':<10} {'':<7} ↳ {test.nodeid}: {first}")
    not_covered = len(results.requirements) - len(covered)
    lines.append(f"not covered by this run: {not_covered} requirement(s)")
    lines.append(headline(results))
    return lines
