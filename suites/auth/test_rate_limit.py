"""A per-client rate limit keyed on the address the front saw (R-RL-1, 2).

Each test is a client of its own (an address of 127.0.0.0/8 on a loopback front), so its
count starts at zero and the other suites' traffic is never limited by it.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stackproof.backends import Stack
from stackproof.checks.answers import health_paths
from stackproof.checks.evidence import Evidence
from stackproof.checks.http import FrontClient
from stackproof.checks.problems import Problems
from stackproof.checks.ratelimit import TOO_MANY, check_exhausted, exhaust
from stackproof.profile import Profile
from stackproof.profile.auth import AuthSettings


def limited_path(auth: AuthSettings) -> str:
    if auth.rate_limited_path is None:
        pytest.skip("the profile names no rate-limited path (auth.rate_limited_path)")
    return auth.rate_limited_path


@pytest.mark.requirement("R-RL-1")
@pytest.mark.needs("rate_limited_path")
def test_the_request_past_the_limit_gets_429_and_health_stays_open(
    stack: Stack,
    profile: Profile,
    auth: AuthSettings,
    client_of: Callable[[Stack], FrontClient],
    evidence: Evidence,
) -> None:
    path = limited_path(auth)
    limit = profile.policy.limits.rate_limit_requests
    client = client_of(stack)
    problems = Problems(f"{limit} requests per client on {path}")
    run = exhaust(client, path, limit)
    check_exhausted(run, profile, problems, evidence)
    # The client is over its limit now: health answers must still never be 429.
    for _service, _kind, health in health_paths(profile):
        status = client.https("GET", health).status_code
        problems.expect(status != TOO_MANY, health, "got 429 from a client over its limit")
    evidence.add("client", client.source_address)
    problems.raise_if_any()


@pytest.mark.requirement("R-RL-2")
@pytest.mark.needs("rate_limited_path")
def test_forged_forwarding_headers_do_not_reset_the_count(
    stack: Stack,
    profile: Profile,
    auth: AuthSettings,
    client_of: Callable[[Stack], FrontClient],
    evidence: Evidence,
) -> None:
    """Every request claims another origin in X-Forwarded-For, X-Real-IP and Forwarded:
    the limit must still count them all as the one client the front saw."""
    path = limited_path(auth)
    limit = profile.policy.limits.rate_limit_requests
    client = client_of(stack)

    def forged(number: int) -> dict[str, str]:
        address = f"198.51.{number // 250}.{number % 250 + 1}"  # a new origin every time
        return {"X-Forwarded-For": address, "X-Real-IP": address, "Forwarded": f"for={address}"}

    problems = Problems(f"{limit} requests with forged origins on {path}")
    run = exhaust(client, path, limit, headers=forged)
    check_exhausted(run, profile, problems, evidence)
    evidence.add("client", client.source_address)
    problems.raise_if_any()
