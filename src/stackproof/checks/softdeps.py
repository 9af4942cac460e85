"""A soft dependency taken away (R-HLT-5): readiness stays 200 throughout, and its body
reports the degradation — one judgement for links, files and settings."""

from __future__ import annotations

from stackproof.checks.evidence import Evidence
from stackproof.checks.health import HealthEndpoint, degradation_unreported
from stackproof.checks.problems import Problems
from stackproof.checks.timeline import observe

BODY_TIMEOUT_S = 5.0


def steady_body(endpoint: HealthEndpoint) -> str:
    """The readiness body with every dependency in place ('' if it did not answer)."""
    response, _, _ = endpoint.get(timeout_s=BODY_TIMEOUT_S)
    return response.text if response is not None else ""


def judge_degraded(
    endpoint: HealthEndpoint,
    steady: str,
    dependencies: list[str],
    *,
    window_s: float,
    interval_s: float,
    problems: Problems,
    evidence: Evidence,
    key: str,
    away: str,
) -> None:
    """With `away` (what was taken, for the report) gone: `endpoint` answers 200 through
    all of `window_s` (as long as a hard dependency's failure may take to show), and its
    body then reports each of `dependencies` degraded. Problems go under `key`."""
    statuses = observe([endpoint], window_s, interval_s)[endpoint.url]
    distinct = sorted(map(str, set(statuses)))
    evidence.add(f"{key} readiness statuses with {away}", distinct)
    if not statuses or any(status != 200 for status in statuses):
        problems.add(key, f"readiness was not 200 throughout with {away}: {distinct}")
    response, _, error = endpoint.get(timeout_s=BODY_TIMEOUT_S)
    if response is None:
        problems.add(key, f"readiness did not answer with {away}: {error}")
        return
    evidence.add(f"{key} readiness body with {away}", response.text[:400])
    for dependency in dependencies:
        if unreported := degradation_unreported(response.text, steady, dependency):
            problems.add(key, unreported)
