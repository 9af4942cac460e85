"""API keys: a fixed 401 for a missing or wrong key, and no start without a key (R-AUTH-1, 2)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.evidence import Evidence
from stackproof.checks.http import FrontClient, answer_needed
from stackproof.checks.needs import require, secret_of
from stackproof.checks.problems import Problems
from stackproof.checks.started import require_command_ran
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
@pytest.mark.needs("api_key_value")
def test_admin_route_needs_the_exact_api_key(
    stack: Stack,
    auth: AuthSettings,
    client_of: Callable[[Stack], FrontClient],
    evidence: Evidence,
) -> None:
    key = secret_of(
        stack,
        auth.api_key_secret,
        what="API key",
        purpose=f"{auth.admin_path} cannot be asked with the right key and its near misses",
    )
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


# Keys a client can send to a service that started without one of its own. A blank key
# cannot be sent at all: HTTP strips the whitespace around a field's value.
KEYLESS_ATTEMPTS: dict[str, str | None] = {
    "no key": None,
    "an empty key": "",
    "a made-up key": "stackproof-not-the-key",
}


def _ask_without_the_key(client: FrontClient, path: str, answered: dict[str, int]) -> None:
    """What the admin route answers each keyless attempt, into `answered`."""
    for label, sent in KEYLESS_ATTEMPTS.items():
        with answer_needed(f"GET {path} with {label}"):
            response = client.https("GET", path, headers={} if sent is None else {HEADER: sent})
        answered[label] = response.status_code


@pytest.mark.destructive
@pytest.mark.requirement("R-AUTH-2")
@pytest.mark.needs("control")
def test_service_without_an_api_key_refuses_to_start(
    own_stack: Stack,
    auth: AuthSettings,
    front_client: Callable[[Stack], FrontClient],
    evidence: Evidence,
) -> None:
    """Given the service stopped, it is started with its key empty, blank, then unset.

    Empty or unset, it must refuse to start: exit non-zero, naming the setting, with no
    secret in its output. A blank key may also be taken as it is: a service that then
    starts and answers 401 to everything fails closed, which is what R-AUTH-2 guards; one
    that lets a request through fails open. While a trial start answers ready, the admin
    route is asked without the key, to tell the two apart."""
    require(own_stack, Capability.CONTROL)
    service = own_stack.service(auth.service)
    service.stop()
    client = front_client(own_stack)
    problems = Problems(f"{auth.service} started without {auth.api_key_env}")
    for label, value in {"empty": "", "blank": "   ", "unset": None}.items():
        answered: dict[str, int] = {}
        trial = service.trial_start(
            {auth.api_key_env: value},
            while_ready=functools.partial(_ask_without_the_key, client, auth.admin_path, answered),
        )
        require_command_ran(trial.exit_code, trial.output, f"{auth.service} with the key {label}")
        let_in = sorted(attempt for attempt, status in answered.items() if status < 400)
        fails = "open" if let_in else "closed" if answered else None
        evidence.add(
            f"{label} key",
            {
                "exit_code": trial.exit_code,
                "started": trial.exit_code is None,
                "admin route without the key": answered,
                "fails": fails,
                "output": trial.output[-600:],
            },
        )
        if trial.exit_code is None:
            if let_in:
                problems.add(
                    label,
                    f"it started and fails open: {auth.admin_path} let through "
                    + ", ".join(f"{a} ({answered[a]})" for a in let_in),
                )
            elif not answered:
                problems.add(
                    label,
                    "it kept running without answering ready or exiting: it did not refuse "
                    "to start",
                )
            elif label != "blank":
                problems.add(
                    label,
                    "it started (it fails closed: "
                    f"{auth.admin_path} answered {sorted(set(answered.values()))}), but a "
                    "service with an empty or missing key must refuse to start",
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
