"""Write a run's reports: results.json, junit.xml, report.html, and the `latest` link.

Every file is scanned for the run's secrets before it is written; a secret found is replaced
and the run records which one (by label), so a leak shows without repeating it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path

import jinja2

from stackproof.results.charts import objective_shares, timeline_chart
from stackproof.results.drill_charts import chart_from_payload
from stackproof.results.junit import junit_xml
from stackproof.results.model import RequirementResult, Results, TestResult
from stackproof.run import SecretRegistry

RESULTS_FILE = "results.json"
JUNIT_FILE = "junit.xml"
HTML_FILE = "report.html"

_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("stackproof.results", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def headline(results: Results) -> str:
    counts = results.summary()
    covered = len(results.requirements) - counts["not_covered"]
    broken = counts["fail"] + counts["error"]
    scope = f"{covered} of {len(results.requirements)} requirements covered"
    if broken:
        return f"FAIL — {counts['fail']} failed, {counts['error']} errored ({scope})"
    unproven = results.unproven()
    if results.run.strict and unproven:
        kinds = ", ".join(
            f"{sum(r.verdict == v for r in unproven)} {v.replace('_', ' ')}"
            for v in ("partial", "skip", "not_covered")
            if any(r.verdict == v for r in unproven)
        )
        return f"FAIL (--strict) — {len(unproven)} requirement(s) not proven: {kinds} ({scope})"
    if counts["pass"] == 0 and counts["partial"] == 0:
        return f"NOTHING PROVEN — no requirement passed ({scope})"
    if counts["partial"] or counts["skip"]:
        return (
            f"PASS, NOT ALL TESTED — {counts['partial']} partly tested, {counts['skip']} "
            f"skipped; every check that ran holds ({scope})"
        )
    return f"PASS — every covered requirement holds ({scope})"


def _untested_rows(results: Results) -> list[tuple[RequirementResult, str, str, list[str]]]:
    """One row per requirement and reason a test of it did not run: (requirement, why, what
    would enable it, the tests' names), so a reason many tests share is read once."""
    rows = []
    for requirement in results.requirements:
        grouped: dict[tuple[str, str], list[str]] = {}
        for untested in requirement.untested:
            key = (untested.why, untested.enable or "")
            grouped.setdefault(key, []).append(untested.nodeid)
        rows += [(requirement, why, enable, tests) for (why, enable), tests in grouped.items()]
    return rows


def render_html(results: Results) -> str:
    figures = [(r, f) for r in results.requirements for f in r.figures]
    # A test naming several requirements files its timelines under each: draw them once.
    timelines = list(dict.fromkeys(t for r in results.requirements for t in r.timelines))
    return _templates.get_template("report.html.j2").render(
        run=results.run,
        headline=headline(results),
        summary=results.summary(),
        requirements=results.requirements,
        failed=[r for r in results.requirements if r.verdict in ("fail", "error", "waived")],
        untested=_untested_rows(results),
        policy_changes=[p for p in results.policy if p.direction != "same"],
        policy=results.policy,
        figures=figures,
        figures_by_requirement=[(r, r.figures) for r in results.requirements if r.figures],
        chart=objective_shares([f for _, f in figures]),
        drill_charts=[
            (r, svg)
            for r in results.requirements
            for e in r.evidence
            if (svg := chart_from_payload(e.data))
        ],
        timelines=timelines,
        timeline_chart=timeline_chart(timelines),
    )


def _render_all(results: Results, tests: Sequence[TestResult]) -> dict[str, str]:
    return {
        RESULTS_FILE: json.dumps(results.to_json_data(), indent=2, default=str) + "\n",
        JUNIT_FILE: junit_xml(tests),
        HTML_FILE: render_html(results),
    }


def write_reports(
    results: Results,
    tests: Sequence[TestResult],
    run_dir: Path,
    secrets: SecretRegistry,
) -> Results:
    """Write the three reports into `run_dir`; return the results as written."""
    found: set[str] = set(results.run.redacted_secrets)  # those scrubbed from its logs
    for text in _render_all(results, tests).values():
        found.update(secrets.scrub(text)[1])
    if found:
        run = dataclasses.replace(results.run, redacted_secrets=tuple(sorted(found)))
        results = dataclasses.replace(results, run=run)
    run_dir.mkdir(parents=True, exist_ok=True)
    for name, text in _render_all(results, tests).items():
        (run_dir / name).write_text(secrets.scrub(text)[0], "utf-8")
    point_latest(run_dir)
    return results


def point_latest(run_dir: Path) -> None:
    """Make `<reports>/latest` a relative symlink to this run, replaced atomically."""
    link = run_dir.parent / "latest"
    staging = run_dir.parent / f".latest-{os.getpid()}"
    staging.unlink(missing_ok=True)
    staging.symlink_to(run_dir.name)
    staging.replace(link)
