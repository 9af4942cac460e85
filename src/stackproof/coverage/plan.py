"""Per requirement, what a run of a profile on a backend will do: run, run partly, skip (and
what would enable it), or not run on this machine. Judged from the suites' collected tests
and their needs, before anything starts."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from stackproof.catalog import catalog
from stackproof.coverage.needs import Need, Subject, first_unmet
from stackproof.errors import split_enable

Status = Literal["will run", "partial", "will skip", "cannot run here", "no test"]


@dataclass(frozen=True, slots=True)
class PlannedTest:
    nodeid: str
    requirements: tuple[str, ...]
    needs: tuple[str, ...]
    unmet: Need | None = None
    why: str | None = None  # the unmet need's reason, with what enables it


def plan_test(
    nodeid: str, requirements: Sequence[str], needs: Sequence[Need], subject: Subject
) -> PlannedTest:
    found = first_unmet(needs, subject)
    return PlannedTest(
        nodeid,
        tuple(requirements),
        tuple(n.name for n in needs),
        None if found is None else found[0],
        None if found is None else found[1],
    )


@dataclass(frozen=True, slots=True)
class PlannedRequirement:
    id: str
    title: str
    status: Status
    tests: tuple[PlannedTest, ...]

    @property
    def skipped(self) -> list[PlannedTest]:
        return [t for t in self.tests if t.unmet is not None]

    def reasons(self) -> list[tuple[str, str | None]]:
        """Distinct (why, to enable) of the tests that will not run."""
        return list(dict.fromkeys(split_enable(t.why or "") for t in self.skipped))


def _status(tests: Sequence[PlannedTest]) -> Status:
    skipped = [t for t in tests if t.unmet is not None]
    if not tests:
        return "no test"
    if not skipped:
        return "will run"
    if len(skipped) < len(tests):
        return "partial"
    if all(t.unmet is not None and t.unmet.where == "here" for t in skipped):
        return "cannot run here"
    return "will skip"


def plan_requirements(tests: Iterable[PlannedTest]) -> list[PlannedRequirement]:
    """Every catalog requirement, in catalog order, with its tests' plan."""
    tests = list(tests)
    rows = []
    for requirement in catalog():
        mine = tuple(t for t in tests if requirement.id in t.requirements)
        rows.append(PlannedRequirement(requirement.id, requirement.title, _status(mine), mine))
    return rows


def _short(title: str, width: int = 72) -> str:
    return title if len(title) <= width else title[: width - 1] + "…"


def render_plan(rows: Sequence[PlannedRequirement], header: str) -> str:
    """The plan as a person reads it: one line per requirement, then each skip's reason."""
    lines = [header, ""]
    width = max(len(r.status) for r in rows)
    for row in rows:
        ran = len(row.tests) - len(row.skipped)
        lines.append(
            f"{row.id:<10} {row.status:<{width}}  {ran}/{len(row.tests)} tests  {_short(row.title)}"
        )
        for why, enable in row.reasons():
            lines.append(f"{'':<10} {'':<{width}}  - {why}")
            if enable:
                lines.append(f"{'':<10} {'':<{width}}    to enable: {enable}")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    lines += ["", ", ".join(f"{n} {status}" for status, n in counts.items())]
    return "\n".join(lines)


def plan_json(rows: Sequence[PlannedRequirement]) -> list[dict[str, object]]:
    return [
        {
            "id": row.id,
            "status": row.status,
            "tests": [
                {"nodeid": t.nodeid, "runs": t.unmet is None, "need": t.unmet and t.unmet.name,
                 "why": t.why}
                for t in row.tests
            ],
        }
        for row in rows
    ]  # fmt: skip
