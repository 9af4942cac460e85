"""R-RES-5: a killed service comes back by itself; a frozen one fails at the front, then
recovers once it runs again."""

from __future__ import annotations

import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.evidence import Evidence
from stackproof.checks.health import HealthEndpoint, front_health_endpoint, health_endpoint
from stackproof.checks.needs import require
from stackproof.checks.problems import Problems
from stackproof.checks.restarts import skip_unjudged
from stackproof.checks.steady import SteadyState
from stackproof.checks.timeline import UNREADY_AT_FRONT, FaultRecorder
from stackproof.errors import CapabilityMissingError
from stackproof.faults.injector import StackFaults
from stackproof.profile import Profile

GONE: frozenset[int | None] = frozenset({None, 500, 502, 503, 504})


def watched_services(profile: Profile) -> list[str]:
    """The services whose readiness says whether they serve: the ones to kill and freeze."""
    return [name for name, service in profile.services.items() if service.health.readiness]


def front_readiness(stack: Stack, service: str) -> HealthEndpoint | None:
    health = stack.profile.services[service].health
    if health.readiness is None or health.public_prefix is None:
        return None
    return front_health_endpoint(stack, service, "readiness")


@pytest.mark.destructive
@pytest.mark.requirement("R-RES-5")
@pytest.mark.needs("control", "readiness")
def test_a_killed_service_is_restarted_and_ready_again(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    """SIGKILL each service in turn; its supervisor must have it ready again, as a new
    process, within the budget — nothing here starts it."""
    require(own_stack, Capability.CONTROL)
    budget = profile.policy.resilience.restart_within_s
    health = profile.policy.health
    services = watched_services(profile)
    if not services:
        pytest.skip("no service has a readiness endpoint to tell it is back")
    problems = Problems("killed services")
    unjudged: set[str] = set()  # services whose restart the backend cannot tell
    steady.require("before the kills")
    for name in services:
        control = own_stack.service(name)
        before = control.identity()
        recorder = FaultRecorder(
            health_endpoint(own_stack, name, "readiness"),
            "kill (SIGKILL)",
            name,
            interval_s=health.poll_interval_s,
            timeout_s=1.0,
        )
        recorder.begin()
        control.kill()
        recorder.removed()  # a kill is over at once; what follows is the recovery
        recorder.detect(GONE, health.detect_within_s)
        recovered = recorder.recover(budget)
        after = control.identity()
        evidence.timeline(
            recorder.timeline(
                detect_objective_s=health.detect_within_s,
                recover_objective_s=budget,
                test=evidence.test,
            )
        )
        if recovered is None:
            problems.add(name, f"not ready again {budget:g} s after SIGKILL ({before})")
            control.start()  # put it back for the next checks: the verdict is already made
            continue
        evidence.figure(
            f"{name}_ready_after_kill_s", recovered, "s", objective=budget, comparison="<="
        )
        evidence.add(f"{name} identity", {"killed": before, "restarted": after})
        if record := control.restart_record():
            evidence.add(f"{name}: its supervisor's record", record)
        if before is None:  # "restarted" cannot be told from "never killed"
            unjudged.add(name)
            continue
        problems.expect(
            after is not None and after != before,
            name,
            f"ready again, but as {after} (killed: {before}): was it killed at all?",
        )
    steady.await_again(health.recover_within_s, "after the kills")
    problems.raise_if_any()
    skip_unjudged(own_stack, unjudged, "every killed service was ready again in time")


@pytest.mark.destructive
@pytest.mark.requirement("R-RES-5")
@pytest.mark.needs("control", "front_readiness")
def test_a_paused_service_fails_readiness_at_the_front_and_recovers(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    """SIGSTOP each service the front serves: its readiness through the front must fail
    (the proxy answers 5xx within the detection budget) and be 200 again after SIGCONT."""
    require(own_stack, Capability.CONTROL)
    health = profile.policy.health
    served = {n: e for n in watched_services(profile) if (e := front_readiness(own_stack, n))}
    if not served:
        pytest.skip("no service's readiness is exposed through the front (public_prefix)")
    problems = Problems("paused services, seen through the front")
    steady.require("before the pauses")
    for name, endpoint in served.items():
        recorder = FaultRecorder(
            endpoint,
            "pause (SIGSTOP)",
            name,
            interval_s=health.poll_interval_s,
            timeout_s=health.detect_within_s,  # the front must answer before the client quits
        )
        try:
            with faults.paused(name):
                recorder.begin()
                detected = recorder.detect(UNREADY_AT_FRONT, health.detect_within_s)
                recorder.removed()
        except CapabilityMissingError as error:
            pytest.skip(f"cannot pause services here: {error}")
        recovered = recorder.recover(health.recover_within_s)
        evidence.timeline(
            recorder.timeline(
                detect_objective_s=health.detect_within_s,
                recover_objective_s=health.recover_within_s,
                test=evidence.test,
            )
        )
        if detected is None:
            problems.add(
                name,
                f"the front did not fail its readiness within {health.detect_within_s:g} s "
                f"while it was paused (seen: {recorder.samples[-3:]})",
            )
        else:
            evidence.figure(
                f"{name}_paused_detected_at_front_s",
                detected,
                "s",
                objective=health.detect_within_s,
                comparison="<=",
            )
        if recovered is None:
            problems.add(name, f"not ready again {health.recover_within_s:g} s after SIGCONT")
    steady.await_again(health.recover_within_s, "after the pauses")
    problems.raise_if_any()
