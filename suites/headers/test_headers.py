"""HTTP security headers of the public front (R-HDR-1..5), on every kind of answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.answers import (
    Answer,
    error_headers_check,
    front_answers,
    hsts_check,
    hsts_problems,
    request_id_check,
    request_id_log_check,
    required_header_problems,
    success_headers_check,
)
from stackproof.checks.evidence import Evidence
from stackproof.checks.http import FrontClient
from stackproof.checks.needs import require
from stackproof.checks.problems import Problems
from stackproof.profile import Profile


@pytest.fixture
def answers(front: FrontClient, profile: Profile) -> list[Answer]:
    return front_answers(front, profile)


@pytest.mark.requirement("R-HDR-1")
def test_hsts_on_every_https_answer(answers: list[Answer], profile: Profile) -> None:
    hsts_check(answers, profile).raise_if_any()


@pytest.mark.requirement("R-HDR-2")
def test_security_headers_on_successful_answers(answers: list[Answer], profile: Profile) -> None:
    success_headers_check(answers, profile).raise_if_any()


@pytest.mark.requirement("R-HDR-3")
def test_security_headers_on_error_and_health_answers(
    answers: list[Answer], profile: Profile
) -> None:
    error_headers_check(answers, profile).raise_if_any()


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
    request_id_check(answers, profile).raise_if_any()


@pytest.mark.requirement("R-HDR-5")
def test_request_id_appears_in_the_answering_service_log(
    stack: Stack, answers: list[Answer], profile: Profile, evidence: Evidence
) -> None:
    require(stack, Capability.LOGS)
    logs = {name: stack.logs(name) for name in profile.services}
    problems, lines = request_id_log_check(answers, profile, logs)
    for label, found in lines.items():
        evidence.add(f"log lines for {label}", found)
    problems.raise_if_any()
