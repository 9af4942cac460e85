"""Liveness and readiness that tell the truth (R-HLT-1, 2, 3, 6)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.answers import health_paths
from stackproof.checks.clients import own_client_address
from stackproof.checks.evidence import Evidence
from stackproof.checks.health import (
    StatusClock,
    dependants,
    hard_dependencies,
    health_endpoint,
    health_line_pattern,
)
from stackproof.checks.http import FrontClient
from stackproof.checks.needs import nothing_to_check, require
from stackproof.checks.problems import Problems
from stackproof.checks.ratelimit import TOO_MANY, exhaust
from stackproof.checks.restarts import RestartWatch, skip_unjudged
from stackproof.errors import PreconditionError
from stackproof.profile import Profile
from stackproof.run import SecretRegistry

LEAK_PATTERNS = {
    "a stack trace": re.compile(
        r"Traceback \(most recent call last\)|File \"[^\"]+\", line \d+|\n\s+at \S+\("
    ),
    "a connection string": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/@]*:[^\s/@]*@", re.IGNORECASE),
    "an exception text": re.compile(r"\b\w+(Error|Exception):", re.IGNORECASE),
}


def _services_with(profile: Profile, kind: str) -> list[str]:
    return [n for n, s in profile.services.items() if getattr(s.health, kind)]


def _check_liveness(stack: Stack, evidence: Evidence, problems: Problems, figure: str) -> None:
    """Every liveness endpoint answers 200 within the profile's budget; each time a figure."""
    budget = stack.profile.policy.health.liveness_within_s
    for name in _services_with(stack.profile, "liveness"):
        endpoint = health_endpoint(stack, name, "liveness")
        response, took, error = endpoint.answer(timeout_s=budget)
        evidence.figure(f"{name}_{figure}_s", took, "s", objective=budget, comparison="<=")
        seen = error if response is None else response.status_code
        problems.expect(
            response is not None and response.status_code == 200,
            name,
            f"{endpoint.url}: {seen}, expected 200 within {budget:g} s",
        )


@pytest.mark.requirement("R-HLT-1")
@pytest.mark.needs("liveness")
def test_liveness_answers_200_promptly(stack: Stack, profile: Profile, evidence: Evidence) -> None:
    if not _services_with(profile, "liveness"):
        nothing_to_check(
            "the profile names no liveness endpoint", enable="services.<name>.health.liveness"
        )
    problems = Problems("liveness")
    _check_liveness(stack, evidence, problems, "liveness")
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-1")
@pytest.mark.needs("control", "liveness", "liveness_with_links")
def test_liveness_ignores_every_dependency(
    own_stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    """Given every dependency of the health-checked services down, liveness still answers 200."""
    require(own_stack, Capability.CONTROL)
    services = _services_with(profile, "liveness")
    if not services:
        nothing_to_check(
            "the profile names no liveness endpoint", enable="services.<name>.health.liveness"
        )
    dependencies = sorted({d for n in services for d in profile.services[n].links} - set(services))
    if not dependencies:
        nothing_to_check(
            f"{', '.join(services)} link to no other service: there is no dependency to stop",
            enable="services.<name>.links",
        )
    for dependency in dependencies:
        own_stack.service(dependency).stop()
    evidence.add("stopped", dependencies)
    problems = Problems(f"liveness with {', '.join(dependencies) or 'nothing'} down")
    _check_liveness(own_stack, evidence, problems, "liveness_deps_down")
    problems.raise_if_any()


@pytest.mark.requirement("R-HLT-2")
@pytest.mark.needs("readiness")
def test_readiness_answers_200_when_dependencies_answer(
    stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    problems = Problems("readiness with every dependency up")
    services = _services_with(profile, "readiness")
    if not services:
        nothing_to_check(
            "the profile names no readiness endpoint", enable="services.<name>.health.readiness"
        )
    for name in services:
        endpoint = health_endpoint(stack, name, "readiness")
        response, _, error = endpoint.answer(timeout_s=5.0)
        evidence.add(f"{name} readiness", None if response is None else response.text[:300])
        seen = error if response is None else response.status_code
        problems.expect(
            response is not None and response.status_code == 200,
            name,
            f"{endpoint.url}: {seen}, expected 200",
        )
    problems.raise_if_any()


def _readiness_body_problems(
    body: str, dependency: str, kind: str, secrets: SecretRegistry
) -> list[str]:
    found = []
    try:
        document = json.loads(body)
    except ValueError:
        return [f"the body is not JSON: {body[:120]!r}"]
    text = json.dumps(document).lower()
    if dependency.lower() not in text and kind.lower() not in text:
        found.append(f"the body does not name the failing check ({dependency}): {body[:200]}")
    for what, pattern in LEAK_PATTERNS.items():
        if pattern.search(body):
            found.append(f"the body carries {what}")
    if leaked := secrets.scrub(body)[1]:
        found.append(f"the body carries secrets of the stack: {', '.join(leaked)}")
    return found


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-2")
@pytest.mark.needs("control", "hard_dependency")
def test_readiness_answers_503_naming_a_failed_hard_dependency(
    own_stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    require(own_stack, Capability.CONTROL)
    policy = profile.policy.health
    if not hard_dependencies(own_stack):
        nothing_to_check(
            "no service with a readiness endpoint names a hard dependency to stop",
            enable="services.<name>.health.hard_dependencies",
        )
    problems = Problems("readiness with a hard dependency down")
    for dependency in hard_dependencies(own_stack):
        kind = profile.services[dependency].kind
        own_stack.service(dependency).stop()
        for name in dependants(own_stack, dependency):
            endpoint = health_endpoint(own_stack, name, "readiness")
            if (
                endpoint.await_status(
                    {500, 502, 503, 504}, policy.detect_within_s * 2, policy.poll_interval_s
                )
                is None
            ):
                problems.add(name, f"readiness kept answering 200 with {dependency} down")
                continue
            response, _, error = endpoint.answer(timeout_s=5.0)
            if response is None:
                problems.add(name, f"no answer: {error}")
                continue
            evidence.add(
                f"{name} readiness with {dependency} down",
                {
                    "status": response.status_code,
                    "headers": dict(response.headers),
                    "body": response.text[:500],
                },
            )
            problems.expect(
                response.status_code == 503, name, f"status {response.status_code}, expected 503"
            )
            problems.expect("retry-after" in response.headers, name, "no Retry-After header")
            for problem in _readiness_body_problems(
                response.text, dependency, kind, own_stack.run.secrets
            ):
                problems.add(name, problem)
        own_stack.service(dependency).start()
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-3")
@pytest.mark.needs("control", "hard_dependency")
def test_readiness_follows_a_hard_dependency_down_and_back(
    own_stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    """Stop each hard dependency: readiness turns 503 in time, then 200 in time, no restart."""
    require(own_stack, Capability.CONTROL)
    policy = profile.policy.health
    if not hard_dependencies(own_stack):
        nothing_to_check(
            "no service with a readiness endpoint names a hard dependency to stop",
            enable="services.<name>.health.hard_dependencies",
        )
    problems = Problems("readiness following its dependencies")
    clock = StatusClock(problems, evidence, policy.poll_interval_s)
    unknown: set[str] = set()  # services whose restart the backend cannot tell
    for dependency in hard_dependencies(own_stack):
        watched = dependants(own_stack, dependency)
        endpoints = {name: health_endpoint(own_stack, name, "readiness") for name in watched}
        restarts = RestartWatch(own_stack, watched)
        unknown |= restarts.unknown
        own_stack.service(dependency).stop()
        for name, endpoint in endpoints.items():
            clock.until(
                endpoint,
                {503},
                policy.detect_within_s,
                key=name,
                missed=f"still not 503 {policy.detect_within_s:g} s after {dependency} stopped",
                figure=f"{name}_detects_{dependency}_down_s",
            )
        own_stack.service(dependency).start()  # returns once the dependency itself is ready
        for name, endpoint in endpoints.items():
            clock.until(
                endpoint,
                {200},
                policy.recover_within_s,
                key=name,
                missed=f"not 200 again {policy.recover_within_s:g} s after {dependency} recovered",
                figure=f"{name}_recovers_from_{dependency}_s",
            )
            if restarted := restarts.restarted(name):
                problems.add(name, f"{restarted}; readiness must recover in place")
    problems.raise_if_any()
    skip_unjudged(own_stack, unknown, "readiness followed its dependencies in time")


@pytest.mark.requirement("R-HLT-6")
@pytest.mark.needs("health_paths")
@pytest.mark.needs("distinct_clients")
def test_health_needs_no_credentials_and_is_not_rate_limited(
    front_client: Callable[..., FrontClient], stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    """From a client of its own that first spends its whole rate limit (where the profile
    names a limited path), every health answer must still be free of 401/403 and 429."""
    paths = health_paths(profile)
    if not paths:
        nothing_to_check(
            "the front exposes no health endpoint", enable="services.<name>.health.public_prefix"
        )
    limit = profile.policy.limits.rate_limit_requests
    front = front_client(stack, source_address=own_client_address(stack.public))
    problems = Problems("health endpoints through the front")
    limited = profile.auth.rate_limited_path if profile.auth is not None else None
    not_limited = None  # why the client is not over its limit, if it is not
    if limited is not None:
        spent = exhaust(front, limited, limit)
        evidence.add(f"request {limit + 1} to {limited}", spent.over.status_code)
        if spent.over.status_code != TOO_MANY:
            not_limited = f"request {limit + 1} to {limited} got {spent.over.status_code}, not 429"
    statuses: dict[str, list[int]] = {}
    for _ in range(limit + 5):
        for _service, _kind, path in paths:
            statuses.setdefault(path, []).append(front.https("GET", path).status_code)
    for path, seen in statuses.items():
        refused = sorted({s for s in seen if s in (401, 403, 407)})
        limited = seen.count(429)
        problems.expect(not refused, path, f"asked for credentials ({refused})")
        problems.expect(not limited, path, f"{limited} of {len(seen)} requests got 429")
    evidence.add("statuses per health path", {p: sorted(set(s)) for p, s in statuses.items()})
    problems.raise_if_any()
    if not_limited is not None:
        # A limit that does not limit is R-RL-1's finding; here it leaves nothing to prove.
        raise PreconditionError(
            f"{not_limited}: the client is not over its limit, so the health answers cannot "
            "show they are exempt from it"
        )


@pytest.mark.requirement("R-HLT-6")
@pytest.mark.needs("logs")
def test_health_requests_are_not_logged_at_info(
    stack: Stack, front: FrontClient, profile: Profile, evidence: Evidence
) -> None:
    require(stack, Capability.LOGS)
    paths = health_paths(profile)
    own_paths = {
        p for s in profile.services.values() for p in (s.health.liveness, s.health.readiness) if p
    }
    pattern = health_line_pattern(own_paths | {p for _, _, p in paths})
    if pattern is None:
        nothing_to_check(
            "the profile names no health endpoint whose requests could be logged",
            enable="services.<name>.health.liveness or .readiness",
        )
    for _, _, path in paths:
        front.https("GET", path)
    for name in _services_with(profile, "liveness") + _services_with(profile, "readiness"):
        endpoint = health_endpoint(
            stack, name, "readiness" if profile.services[name].health.readiness else "liveness"
        )
        endpoint.get(timeout_s=5.0)
    problems = Problems("health requests in logs")
    for name in profile.services:
        for line in stack.logs(name).splitlines():
            if pattern.search(line) and "DEBUG" not in line:
                problems.add(name, line.strip()[:200])
    evidence.add("log lines naming health paths", problems.found)
    problems.raise_if_any()
