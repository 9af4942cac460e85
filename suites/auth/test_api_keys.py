"""API keys: a fixed 401 for a missing or wrong key, and no start without a key (R-AUTH-1, 2)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.evidence import Evidence
from stackproof.checks.http import FrontClient
from stackproof.checks.needs import require
from stackproof.checks.problems import Problems
from stackproof.profile.auth import AuthSettings

HEADER = "X-API-Key"


def wrong_keys(key: str) -> dict[str, str | None]:
    """Keys that must all be refused: near misses find comparisons that are not exact."""
    return {
        "no key": None,
        "an empty key": "",
        "the key less its last character": key[:-1],
        "the key plus a character": key + "x",
        "the key with its last character changed": key[:-1] + ("a" if key[-1] != "a" else "b"),
        "the key in upper case": key.upper() if key.upper() != key else key.lower(),
        "the key's first half": key[: len(key) // 2],
        "another key of the same length": "k" * len(key),
    }


@pytest.mark.requirement("R-AUTH-1")
def test_admin_route_needs_the_exact_api_key(
    stack: Stack,
    auth: AuthSettings,
    client_of: Callable[[Stack], FrontClient],
    evidence: Evidence,
) -> None:
    key = stack.secret(auth.api_key_secret)
    client = client_of(stack)
    problems = Problems(f"X-API-Key on {auth.admin_path}")
    bodies: dict[str, bytes] = {}
    for label, sent in wrong_keys(key).items():
        response = client.https(
            "GET", auth.admin_path, headers={} if sent is None else {HEADER: sent}
        )
        if response.status_code != 401:
            problems.add(label, f"status {response.status_code}, expected 401")
            continue
        if not response.headers.get("content-type", "").startswith("application/json"):
            problems.add(
                label, f"the 401 body is not JSON ({response.headers.get('content-type')})"
            )
        bodies[label] = response.content
    if len(set(bodies.values())) > 1:
        problems.add(
            "401 body",
            "differs between refusals (it must be fixed): "
            + "; ".join(f"{label}: {body[:80]!r}" for label, body in bodies.items()),
        )
    right = client.https("GET", auth.admin_path, headers={HEADER: key})
    problems.expect(
        right.status_code == 200, "the right key", f"status {right.status_code}, expected 200"
    )
    evidence.add("refusals", sorted(bodies))
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-AUTH-2")
def test_service_without_an_api_key_refuses_to_start(
    own_stack: Stack, auth: AuthSettings, evidence: Evidence
) -> None:
    """Given the service stopped, it is started with its key empty, then unset: each time it
    must exit non-zero, saying which setting is missing, and never print a secret."""
    require(own_stack, Capability.CONTROL)
    service = own_stack.service(auth.service)
    service.stop()
    problems = Problems(f"{auth.service} started without {auth.api_key_env}")
    for label, value in {"empty": "", "blank": "   ", "unset": None}.items():
        trial = service.trial_start({auth.api_key_env: value})
        evidence.add(f"{label} key", {"exit_code": trial.exit_code, "output": trial.output[-600:]})
        if trial.exit_code is None:
            problems.add(
                label, "it started without a key (answered ready or kept running): fails open"
            )
            continue
        problems.expect(trial.exit_code != 0, label, "it exited 0; a refusal must exit non-zero")
        problems.expect(
            auth.api_key_env in trial.output,
            label,
            f"its output does not name {auth.api_key_env}: {trial.output[-200:]!r}",
        )
        if leaked := own_stack.run.secrets.scrub(trial.output)[1]:
            problems.add(label, f"its output carries secrets: {', '.join(leaked)}")
    problems.raise_if_any()
