"""HTTP security headers of the public front (R-HDR-1..5), on every kind of answer."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.answers import Answer, front_answers
from stackproof.checks.evidence import Evidence
from stackproof.checks.http import FrontClient
from stackproof.checks.needs import require
from stackproof.checks.problems import Problems
from stackproof.profile import Profile

HSTS_MAX_AGE = re.compile(r"max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


@pytest.fixture
def answers(front: FrontClient, profile: Profile) -> list[Answer]:
    return front_answers(front, profile)


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


@pytest.mark.requirement("R-HDR-1")
def test_hsts_on_every_https_answer(answers: list[Answer], profile: Profile) -> None:
    problems = Problems("Strict-Transport-Security")
    _check_statuses(answers, problems)
    for answer in answers:
        if answer.scheme == "https":
            for problem in hsts_problems(answer, profile):
                problems.add(answer.label, problem)
    problems.raise_if_any()


@pytest.mark.requirement("R-HDR-2")
def test_security_headers_on_successful_answers(answers: list[Answer], profile: Profile) -> None:
    problems = Problems("security headers on 2xx answers")
    successful = [a for a in answers if 200 <= a.expect < 300]
    _check_statuses(successful, problems)
    for answer in successful:
        for problem in required_header_problems(answer, profile):
            problems.add(answer.label, problem)
    problems.raise_if_any()


@pytest.mark.requirement("R-HDR-3")
def test_security_headers_on_error_and_health_answers(
    answers: list[Answer], profile: Profile
) -> None:
    problems = Problems("security headers on redirects, errors and health answers")
    chosen = [a for a in answers if a.expect >= 300 or a.health]
    _check_statuses(chosen, problems)
    for answer in chosen:
        found = required_header_problems(answer, profile)
        if answer.scheme == "https":
            found += hsts_problems(answer, profile)
        for problem in found:
            problems.add(f"{answer.label} ({answer.response.status_code})", problem)
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-HDR-3")
def test_security_headers_on_5xx_answers(
    own_stack: Stack, front_client: Callable[[Stack], FrontClient], profile: Profile
) -> None:
    """Given every hard dependency down, readiness answers 5xx; its headers must not change."""
    require(own_stack, Capability.CONTROL)
    client = front_client(own_stack)
    dependencies = {d for s in profile.services.values() for d in s.health.hard_dependencies}
    for dependency in sorted(dependencies):
        own_stack.service(dependency).stop()
    problems = Problems("security headers on 5xx answers")
    readiness = [
        (name, s.health.public_prefix.rstrip("/") + s.health.readiness)
        for name, s in profile.services.items()
        if s.health.public_prefix and s.health.readiness and s.health.hard_dependencies
    ]
    if not readiness:
        pytest.skip(
            "no service exposes a readiness endpoint with hard dependencies through the front"
        )
    for name, path in readiness:
        response = client.https("GET", path)
        answer = Answer(f"{name} readiness, dependencies down", 503, response, "https", name)
        if response.status_code < 500:
            problems.add(answer.label, f"got {response.status_code}, expected a 5xx")
        for problem in required_header_problems(answer, profile) + hsts_problems(answer, profile):
            problems.add(f"{answer.label} ({response.status_code})", problem)
    problems.raise_if_any()


@pytest.mark.requirement("R-HDR-4")
def test_no_cors_grant_to_a_foreign_origin(front: FrontClient, profile: Profile) -> None:
    foreign = profile.policy.headers.foreign_origin
    problems = Problems(f"CORS for the foreign origin {foreign}")
    paths = dict.fromkeys(["/", *(p.path for p in profile.probes.values())])
    for path in paths:
        simple = front.https("GET", path, headers={"Origin": foreign})
        preflight = front.https(
            "OPTIONS",
            path,
            headers={
                "Origin": foreign,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "X-API-Key, Content-Type",
            },
        )
        for kind, response in (("GET", simple), ("preflight", preflight)):
            granted = response.headers.get("access-control-allow-origin")
            if granted is not None and granted.strip() in ("*", foreign, "null"):
                credentials = response.headers.get("access-control-allow-credentials", "")
                problems.add(
                    path,
                    f"{kind}: Access-Control-Allow-Origin: {granted} "
                    f"(credentials: {credentials or 'no'})",
                )
    problems.raise_if_any()


@pytest.mark.requirement("R-HDR-5")
def test_every_answer_carries_a_request_id(answers: list[Answer], profile: Profile) -> None:
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
    problems.raise_if_any()


@pytest.mark.requirement("R-HDR-5")
def test_request_id_appears_in_the_answering_service_log(
    stack: Stack, answers: list[Answer], profile: Profile, evidence: Evidence
) -> None:
    require(stack, Capability.LOGS)
    header = profile.policy.headers.request_id
    problems = Problems(f"{header} in service logs")
    logs = {name: stack.logs(name) for name in profile.services}
    for answer in answers:
        request_id = answer.response.headers.get(header, "").strip()
        if answer.health or not request_id:
            continue  # health answers stay out of logs (R-HLT-6); a missing ID fails above
        services = [answer.service] if answer.service else list(logs)
        lines = [
            line for name in services for line in logs[name].splitlines() if request_id in line
        ]
        evidence.add(f"log lines for {answer.label}", lines[:3])
        if not lines:
            request = answer.response.request
            who = answer.service or "any service"
            problems.add(
                answer.label,
                f"{request_id} ({request.method} {request.url.path}) is in no log line of {who}",
            )
    problems.raise_if_any()
