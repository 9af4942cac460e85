"""The verdict table printed at the end of a run."""

from __future__ import annotations

from stackproof.results.model import RequirementResult, Results
from stackproof.results.write import headline

TITLE_WIDTH = 70
LOG_TAIL_LINES = 12  # the full tail is in results.json and report.html
INDENT = " " * 19
NAMED = 12  # requirement IDs listed per verdict under --strict; the report lists them all


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def stack_failure_lines(results: Results) -> list[str]:
    """Each broken stack's cause, once: its later tests only point here."""
    lines = []
    for failure in results.run.stack_failures:
        lines.append(f"STACK BROKEN — {failure.headline()}")
        tail = failure.log_tail.strip().splitlines()[-LOG_TAIL_LINES:]
        lines.extend(f"    | {line}" for line in tail)
    return lines


def _details(requirement: RequirementResult) -> list[str]:
    if requirement.verdict in ("fail", "error"):
        return [
            f"{INDENT}↳ {test.nodeid}: {_first_line(test.message)}"
            for test in requirement.tests
            if test.outcome in ("fail", "error") and test.message
        ]
    if requirement.verdict in ("partial", "skip"):
        return [
            f"{INDENT}↳ not tested: {u.nodeid}: {_first_line(u.reason)}"
            for u in requirement.untested
        ]
    if requirement.loosened:
        return [f"{INDENT}↳ held to a looser policy: {', '.join(requirement.loosened)}"]
    return []


def verdict_table(results: Results) -> list[str]:
    lines = stack_failure_lines(results)
    covered = [r for r in results.requirements if r.verdict != "not_covered"]
    for requirement in covered:
        title = requirement.title
        if len(title) > TITLE_WIDTH:
            title = title[: TITLE_WIDTH - 1] + "…"
        lines.append(f"{requirement.id:<10} {requirement.verdict.upper():<8} {title}")
        lines.extend(_details(requirement))
    not_covered = len(results.requirements) - len(covered)
    lines.append(f"not covered by this run: {not_covered} requirement(s)")
    if results.run.strict and (unproven := results.unproven()):
        lines.append(f"--strict: {len(unproven)} requirement(s) not proven fail the run:")
        for verdict in ("partial", "skip", "not_covered"):
            ids = [r.id for r in unproven if r.verdict == verdict]
            if ids:
                more = f" (+{len(ids) - NAMED} more)" if len(ids) > NAMED else ""
                lines.append(f"    {verdict}: {', '.join(ids[:NAMED])}{more}")
    lines.append(headline(results))
    return lines
