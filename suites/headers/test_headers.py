"""HTTP security headers of the public front (R-HDR-1..7), on every kind of answer.

The checks judge headers only. An answer of another status than the profile expects is
judged as the answer it is (the evidence lists it; R-TLS-5 and R-TLS-7 judge statuses); an
answer that cannot be had at all is an `error`; a certificate the client rejects is taken as
`curl -k` takes it (see `FrontClient`), since R-TLS-3 and R-TLS-6 judge certificates.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.answers import (
    Answer,
    cookie_check,
    cors_grant,
    csp_check,
    error_headers_check,
    front_answers,
    hsts_check,
    hsts_problems,
    oauth_answers,
    other_statuses,
    past_the_rate_limit,
    request_id_check,
    request_id_log_check,
    required_header_problems,
    success_headers_check,
)
from stackproof.checks.clients import own_client_address
from stackproof.checks.evidence import Evidence
from stackproof.checks.health import join_path
from stackproof.checks.http import FrontClient, answer_needed, exchange_record
from stackproof.checks.needs import nothing_to_check, require
from stackproof.checks.problems import Problems
from stackproof.errors import CapabilityMissingError, PreconditionError
from stackproof.profile import Profile


@pytest.fixture
def answers(front: FrontClient, profile: Profile, evidence: Evidence) -> list[Answer]:
    found = front_answers(front, profile)
    if unexpected := other_statuses(found):
        evidence.add("answers of another status, judged as they came", unexpected)
    return found


@pytest.fixture
def refused(stack: Stack, profile: Profile, evidence: Evidence) -> list[Answer]:
    """The 429 of a client past the rate limit, from an address of its own (only the 429
    is kept as evidence, not the requests that spent the limit)."""
    try:
        address = own_client_address(stack.public)
    except CapabilityMissingError as merged:  # one shared count: spending it refuses others
        evidence.add("no 429 judged", merged.reason())
        return []
    if address is None:
        evidence.add(
            "no 429 judged",
            "a remote front counts this machine as one client: spending its limit would "
            "refuse the other checks' requests",
        )
        return []
    with FrontClient(stack.public, source_address=address) as client:
        answer = past_the_rate_limit(client, profile)
    if answer is None:
        return []
    evidence.add("exchange", exchange_record(answer.response))
    return [answer]


def readiness_with_dependencies_down(
    own_stack: Stack, client: FrontClient, profile: Profile, evidence: Evidence
) -> list[Answer]:
    """Every readiness answer through the front with every hard dependency stopped."""
    require(own_stack, Capability.CONTROL)
    readiness = [
        (name, join_path(s.health.public_prefix, s.health.readiness))
        for name, s in profile.services.items()
        if s.health.public_prefix and s.health.readiness and s.health.hard_dependencies
    ]
    if not readiness:
        nothing_to_check(
            "no service exposes a readiness endpoint with hard dependencies through the front",
            enable="services.<name>.health: readiness, public_prefix and hard_dependencies",
        )
    dependencies = {d for s in profile.services.values() for d in s.health.hard_dependencies}
    for dependency in sorted(dependencies):
        own_stack.service(dependency).stop()
    found = []
    for name, path in readiness:
        label = f"{name} readiness, dependencies down"
        with answer_needed(f"{label} (GET {path})"):
            response = client.https("GET", path)
        found.append(Answer(label, 503, response, "https", name))
    evidence.add(
        f"readiness statuses with {', '.join(sorted(dependencies))} down",
        {a.label: a.status for a in found},
    )
    return found


def require_a_5xx(answers: list[Answer]) -> None:
    """Readiness that stays 200 is R-HLT-2's finding; here it leaves no 5xx to judge."""
    statuses = {a.label: a.status for a in answers}
    if not any(status >= 500 for status in statuses.values()):
        raise PreconditionError(
            f"no 5xx answer to judge: readiness answered {statuses} (R-HLT-2 judges readiness)"
        )


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
@pytest.mark.needs("control", "front_readiness_with_hard_dependency")
def test_security_headers_on_5xx_answers(
    own_stack: Stack,
    front_client: Callable[[Stack], FrontClient],
    profile: Profile,
    evidence: Evidence,
) -> None:
    """Given every hard dependency down, readiness answers 5xx; its headers must not change."""
    answers = readiness_with_dependencies_down(
        own_stack, front_client(own_stack), profile, evidence
    )
    problems = Problems("security headers on 5xx answers")
    for answer in answers:
        for problem in required_header_problems(answer, profile) + hsts_problems(answer, profile):
            problems.add(f"{answer.label} ({answer.status})", problem)
    problems.raise_if_any()
    require_a_5xx(answers)


@pytest.mark.requirement("R-HDR-4")
def test_no_cors_grant_to_a_foreign_origin(front: FrontClient, profile: Profile) -> None:
    foreign = profile.policy.headers.foreign_origin
    problems = Problems(f"CORS for the foreign origin {foreign}")
    paths = dict.fromkeys(["/", *(p.path for p in profile.probes.values())])
    for path in paths:
        with answer_needed(f"GET {path} from {foreign}"):
            simple = front.https("GET", path, headers={"Origin": foreign})
        with answer_needed(f"preflight of {path} from {foreign}"):
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
            if (granted := cors_grant(response, foreign)) is not None:
                problems.add(path, f"{kind}: {granted}")
    problems.raise_if_any()


@pytest.mark.requirement("R-HDR-5")
def test_every_answer_carries_exactly_one_request_id(
    stack: Stack, answers: list[Answer], profile: Profile
) -> None:
    """Where logs can be read, an answer with several IDs says which service logged which."""
    logs = {n: stack.logs(n) for n in profile.services} if stack.can(Capability.LOGS) else None
    request_id_check(answers, profile, logs).raise_if_any()


@pytest.mark.requirement("R-HDR-5")
@pytest.mark.needs("logs")
def test_request_id_appears_in_the_answering_service_log(
    stack: Stack, answers: list[Answer], profile: Profile, evidence: Evidence
) -> None:
    require(stack, Capability.LOGS)
    logs = {name: stack.logs(name) for name in profile.services}
    problems, lines = request_id_log_check(answers, profile, logs)
    for label, found in lines.items():
        evidence.add(f"log lines for {label}", found)
    problems.raise_if_any()


@pytest.mark.requirement("R-HDR-6")
def test_content_security_policy_on_every_api_answer(
    answers: list[Answer], refused: list[Answer], profile: Profile, evidence: Evidence
) -> None:
    """Probes (2xx, 4xx), the oversized body (413), health, and a client past the limit (429)."""
    judged = [*answers, *refused]
    evidence.add(
        "policies",
        {a.label: a.response.headers.get_list("content-security-policy") for a in judged},
    )
    csp_check(judged, profile).raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-HDR-6")
@pytest.mark.needs("control", "front_readiness_with_hard_dependency")
def test_content_security_policy_on_5xx_answers(
    own_stack: Stack,
    front_client: Callable[[Stack], FrontClient],
    profile: Profile,
    evidence: Evidence,
) -> None:
    """Given every hard dependency down, readiness answers 5xx with the same policy."""
    answers = readiness_with_dependencies_down(
        own_stack, front_client(own_stack), profile, evidence
    )
    csp_check(answers, profile).raise_if_any()
    require_a_5xx(answers)


@pytest.mark.requirement("R-HDR-7")
@pytest.mark.needs("distinct_clients")
def test_every_cookie_set_is_secure_httponly_and_same_site(
    stack: Stack,
    answers: list[Answer],
    refused: list[Answer],
    front_client: Callable[..., FrontClient],
    profile: Profile,
    evidence: Evidence,
) -> None:
    """Every answer the suite sees, and the OAuth flow's, where services set cookies."""
    browser = front_client(stack, source_address=own_client_address(stack.public))
    looked_at = [*answers, *refused, *oauth_answers(stack, browser, profile)]
    evidence.add("answers looked at", [f"{a.label} ({a.status})" for a in looked_at])
    problems, seen = cookie_check(looked_at)
    evidence.add("Set-Cookie seen (values withheld)", seen)
    problems.raise_if_any()
