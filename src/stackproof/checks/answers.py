"""The answers of a public front that the header checks look at, and how their headers are
judged (R-HDR-1..3, 5).

The profile's probes (200, 401, 404, ...), the plain-HTTP redirect, an oversized body (413)
and every health endpoint the front exposes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import httpx

from stackproof.checks.http import FrontClient
from stackproof.checks.problems import Problems
from stackproof.profile import Profile

HSTS_MAX_AGE = re.compile(r"max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Answer:
    label: str
    expect: int
    response: httpx.Response
    scheme: Literal["https", "http"]
    service: str | None  # who answered, when the profile says
    health: bool = False  # health answers are deliberately left out of access logs

    @property
    def status_ok(self) -> bool:
        return self.response.status_code == self.expect


def oversized_body(profile: Profile) -> bytes:
    return b"x" * (profile.policy.limits.max_body_bytes + 1)


def health_paths(profile: Profile) -> list[tuple[str, str, str]]:
    """(service, kind, public path) of every health endpoint the front exposes."""
    found = []
    for name, service in profile.services.items():
        prefix = service.health.public_prefix
        if prefix is None:
            continue
        for kind, path in (
            ("liveness", service.health.liveness),
            ("readiness", service.health.readiness),
        ):
            if path is not None:
                found.append((name, kind, prefix.rstrip("/") + path))
    return found


def front_answers(client: FrontClient, profile: Profile) -> list[Answer]:
    answers = []
    for name, probe in profile.probes.items():
        response = client.https(
            probe.method, probe.path, headers=probe.headers, content=probe.body or None
        )
        answers.append(Answer(f"probe {name}", probe.expect, response, "https", probe.service))
    if client.front.http is not None:
        response = client.http("GET", "/")
        answers.append(Answer("plain-HTTP redirect", 301, response, "http", profile.public.service))
    response = client.https("POST", profile.public.body_limit_path, content=oversized_body(profile))
    answers.append(Answer("oversized body", 413, response, "https", profile.public.service))
    for service, kind, path in health_paths(profile):
        response = client.https("GET", path)
        answers.append(Answer(f"{service} {kind}", 200, response, "https", service, health=True))
    return answers


# --- judging their headers ------------------------------------------------------------------


def _normal(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip()).lower()


def _check_statuses(answers: Iterable[Answer], problems: Problems) -> None:
    """An answer of the wrong kind proves nothing about the headers of its kind."""
    for answer in answers:
        problems.expect(
            answer.status_ok,
            "status",
            f"{answer.label}: got {answer.response.status_code}, "
            f"the profile expects {answer.expect}",
        )


def hsts_problems(answer: Answer, profile: Profile) -> list[str]:
    policy = profile.policy.headers
    value = answer.response.headers.get("strict-transport-security")
    if value is None:
        return ["Strict-Transport-Security is missing"]
    found = []
    match = HSTS_MAX_AGE.search(value)
    if match is None or int(match.group(1)) < policy.hsts_min_age:
        found.append(f"Strict-Transport-Security {value!r}: max-age below {policy.hsts_min_age}")
    if policy.hsts_include_subdomains and "includesubdomains" not in value.lower():
        found.append(f"Strict-Transport-Security {value!r}: no includeSubDomains")
    return found


def required_header_problems(answer: Answer, profile: Profile) -> list[str]:
    found = []
    for name, wanted in profile.policy.headers.required.items():
        value = answer.response.headers.get(name)
        if value is None:
            found.append(f"{name} is missing")
        elif _normal(value) != _normal(wanted):
            found.append(f"{name}: {value!r}, expected {wanted!r}")
    return found


def hsts_check(answers: list[Answer], profile: Profile) -> Problems:
    """R-HDR-1: HSTS on every HTTPS answer."""
    problems = Problems("Strict-Transport-Security")
    _check_statuses(answers, problems)
    for answer in answers:
        if answer.scheme == "https":
            for problem in hsts_problems(answer, profile):
                problems.add(answer.label, problem)
    return problems


def success_headers_check(answers: list[Answer], profile: Profile) -> Problems:
    """R-HDR-2: the security headers on successful answers."""
    problems = Problems("security headers on 2xx answers")
    successful = [a for a in answers if 200 <= a.expect < 300]
    _check_statuses(successful, problems)
    for answer in successful:
        for problem in required_header_problems(answer, profile):
            problems.add(answer.label, problem)
    return problems


def error_headers_check(answers: list[Answer], profile: Profile) -> Problems:
    """R-HDR-3: the same headers on error and health answers."""
    problems = Problems("security headers on redirects, errors and health answers")
    chosen = [a for a in answers if a.expect >= 300 or a.health]
    _check_statuses(chosen, problems)
    for answer in chosen:
        found = required_header_problems(answer, profile)
        if answer.scheme == "https":
            found += hsts_problems(answer, profile)
        for problem in found:
            problems.add(f"{answer.label} ({answer.response.status_code})", problem)
    return problems


def request_id_check(answers: list[Answer], profile: Profile) -> Problems:
    """R-HDR-5: every answer carries a request ID of its own."""
    header = profile.policy.headers.request_id
    problems = Problems(f"{header} on answers")
    seen: dict[str, str] = {}
    for answer in answers:
        value = answer.response.headers.get(header, "").strip()
        if not value:
            problems.add(answer.label, f"no {header}")
        elif value in seen:
            problems.add(answer.label, f"{header} {value} repeats the one of {seen[value]}")
        else:
            seen[value] = answer.label
    return problems


def request_id_log_check(
    answers: list[Answer], profile: Profile, logs: dict[str, str]
) -> tuple[Problems, dict[str, list[str]]]:
    """R-HDR-5: each answer's request ID is in a log line of the service that answered;
    also the log lines found, per answer, for the evidence."""
    header = profile.policy.headers.request_id
    problems = Problems(f"{header} in service logs")
    found: dict[str, list[str]] = {}
    for answer in answers:
        request_id = answer.response.headers.get(header, "").strip()
        if answer.health or not request_id:
            continue  # health answers stay out of logs (R-HLT-6); a missing ID fails above
        services = [answer.service] if answer.service else list(logs)
        lines = [
            line for name in services for line in logs[name].splitlines() if request_id in line
        ]
        found[answer.label] = lines[:3]
        if not lines:
            request = answer.response.request
            who = answer.service or "any service"
            problems.add(
                answer.label,
                f"{request_id} ({request.method} {request.url.path}) is in no log line of {who}",
            )
    return problems, found
