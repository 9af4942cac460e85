"""Health under injected faults (R-HLT-3, 4, 5, 7): what readiness and the uptime monitor
say while the links misbehave, timed."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.chaos import (
    command_client,
    dependency_links,
    readiness_services,
    require_links,
)
from stackproof.checks.evidence import Evidence
from stackproof.checks.health import degradation_unreported, health_endpoint
from stackproof.checks.monitor import UptimeMonitor
from stackproof.checks.needs import require
from stackproof.checks.problems import Problems
from stackproof.checks.restarts import RestartWatch
from stackproof.checks.steady import SteadyState
from stackproof.checks.timeline import UNREADY, FaultRecorder, observe
from stackproof.errors import PreconditionError
from stackproof.fakes.webhook import WebhookReceiver
from stackproof.faults.injector import StackFaults
from stackproof.profile import Profile

LinkFault = Callable[[str], AbstractContextManager[object]]


def network_faults(faults: StackFaults, profile: Profile) -> dict[str, LinkFault]:
    """Fault types a hard dependency's link can suffer, by name (as in the report)."""
    slow = profile.policy.health.slow_dependency_ms
    return {
        "down": faults.down,
        "black hole": faults.timeout,
        "reset": faults.reset_peer,
        f"latency {slow} ms": lambda link: faults.latency(link, slow),
    }


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-3")
@pytest.mark.needs("control", "fault_links", "hard_dependency")
def test_readiness_detects_and_recovers_from_each_network_fault(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    """For each fault type on each link to a hard dependency (and an iptables partition of
    the dependency, where possible): readiness turns 503 within the detection budget and
    200 within the recovery budget after the fault is gone, without a restart."""
    require(own_stack, Capability.CONTROL)
    require_links(faults)
    health = profile.policy.health
    services = readiness_services(own_stack)
    if not services:
        pytest.skip("no service with a readiness endpoint names a hard dependency")
    problems = Problems("readiness through network faults")
    restarts = RestartWatch(own_stack, services)
    steady.require("before the faults")
    for name, dependencies in services.items():
        cases: list[tuple[str, str, Callable[[], AbstractContextManager[object]]]] = [
            (kind, link, lambda make=make, link=link: make(link))
            for link in dependency_links(faults, name, dependencies)
            for kind, make in network_faults(faults, profile).items()
        ]
        if faults.partitions_unavailable() is None:
            cases += [("partition", d, lambda d=d: faults.partitioned(d)) for d in dependencies]
        for index, (kind, target, fault) in enumerate(cases):
            recorder = FaultRecorder(
                health_endpoint(own_stack, name, "readiness"),
                kind,
                target,
                interval_s=health.poll_interval_s,
                timeout_s=health.slow_readiness_within_s + 1,
            )
            with fault():
                recorder.begin()
                detected = recorder.detect(UNREADY, health.detect_within_s)
                recorder.removed()
            recovered = recorder.recover(health.recover_within_s)
            evidence.timeline(
                recorder.timeline(
                    detect_objective_s=health.detect_within_s,
                    recover_objective_s=health.recover_within_s,
                    test=evidence.test,
                )
            )
            label = f"{kind} on {target}"
            if detected is None:
                problems.add(
                    name, f"{label}: readiness not 503 within {health.detect_within_s:g} s"
                )
            else:
                evidence.figure(
                    f"{name}_detects_{kind.replace(' ', '_')}_{target}_s",
                    detected,
                    "s",
                    objective=health.detect_within_s,
                    comparison="<=",
                )
            if recovered is None:
                problems.add(
                    name, f"{label}: readiness not 200 within {health.recover_within_s:g} s after"
                )
            else:
                evidence.figure(
                    f"{name}_recovers_from_{kind.replace(' ', '_')}_{target}_s",
                    recovered,
                    "s",
                    objective=health.recover_within_s,
                    comparison="<=",
                )
            if detected is None or recovered is None:
                if untried := [f"{k} on {t}" for k, t, _ in cases[index + 1 :]]:
                    # The first fault it does not follow says it; the rest would each wait
                    # out the same budgets to say it again.
                    evidence.add(f"{name}: not tried after that", untried)
                break
        if restarted := restarts.restarted(name):
            problems.add(name, f"{restarted}; it must recover in place")
    problems.raise_if_any()
    restarts.judged_or_skip("readiness followed the faults in time")


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-4")
@pytest.mark.needs("fault_links", "hard_dependency")
def test_readiness_gives_up_on_a_slow_dependency(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    """With the policy's latency on every link to a hard dependency, readiness still answers
    (503) within the policy's time: its probe gave up instead of waiting."""
    require_links(faults)
    health = profile.policy.health
    services = readiness_services(own_stack)
    if not services:
        pytest.skip("no service with a readiness endpoint names a hard dependency")
    links = [
        link for name, deps in services.items() for link in dependency_links(faults, name, deps)
    ]
    problems = Problems(f"readiness with {health.slow_dependency_ms} ms on its dependencies")
    steady.require("before the latency")
    with faults.on_links(links, lambda link: faults.latency(link, health.slow_dependency_ms)):
        for name in services:
            endpoint = health_endpoint(own_stack, name, "readiness")
            response, took, error = endpoint.get(timeout_s=health.slow_readiness_within_s * 2)
            evidence.figure(
                f"{name}_readiness_under_slow_dependency_s",
                took,
                "s",
                objective=health.slow_readiness_within_s,
                comparison="<=",
            )
            status = response.status_code if response is not None else None
            evidence.add(f"{name} readiness", {"status": status, "seconds": round(took, 3)})
            if status is None:
                problems.add(name, f"no answer after {took:.2f} s ({error})")
            elif took > health.slow_readiness_within_s:
                problems.add(
                    name,
                    f"answered {status} after {took:.2f} s, expected within "
                    f"{health.slow_readiness_within_s:g} s",
                )
            elif status != 503:
                problems.add(name, f"answered {status}, expected 503 (its dependency is too slow)")
    steady.await_again(health.recover_within_s, "after the latency")
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-5")
@pytest.mark.needs("fault_links", "soft_dependency")
def test_a_soft_dependency_down_keeps_readiness_and_reports_degradation(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    """With a soft dependency's link down, readiness stays 200, its body names the
    degradation, and the service's command still answers with data."""
    require_links(faults)
    health = profile.policy.health
    services = readiness_services(own_stack, kind="soft")
    if not services:
        pytest.skip("no service with a readiness endpoint names a soft dependency")
    problems = Problems("readiness with a soft dependency down")
    endpoints = {name: health_endpoint(own_stack, name, "readiness") for name in services}
    steady_bodies = {}
    for name, endpoint in endpoints.items():
        response, _, _ = endpoint.get(timeout_s=5.0)
        steady_bodies[name] = response.text if response is not None else ""
    steady.require("before the soft dependency goes down")
    links = [
        link for name, deps in services.items() for link in dependency_links(faults, name, deps)
    ]
    with faults.on_links(links, faults.down):
        # Watch for as long as a hard dependency's failure may take to show: never unready.
        seen = observe(list(endpoints.values()), health.detect_within_s, health.poll_interval_s)
        for name, endpoint in endpoints.items():
            statuses = seen[endpoint.url]
            distinct = sorted(map(str, set(statuses)))
            evidence.add(f"{name} readiness statuses with {links} down", distinct)
            if any(status != 200 for status in statuses):
                problems.add(name, f"readiness was not 200 throughout: {distinct}")
            response, _, error = endpoint.get(timeout_s=5.0)
            if response is None:
                problems.add(name, f"readiness did not answer: {error}")
                continue
            evidence.add(f"{name} readiness body with {links} down", response.text[:400])
            for dependency in services[name]:
                if unreported := degradation_unreported(
                    response.text, steady_bodies[name], dependency
                ):
                    problems.add(name, unreported)
            if profile.command is not None and profile.command.service == name:
                with command_client(own_stack) as commands:
                    answer = commands.send()
                evidence.add(f"{name} command with {links} down", answer.describe())
                problems.expect(
                    answer.has_data, name, f"its command lost its data: {answer.describe()}"
                )
    steady.await_again(health.recover_within_s, "after the soft dependency is back")
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-HLT-7")
@pytest.mark.needs("fault_links", "uptime_monitor")
def test_the_uptime_monitor_alerts_only_on_transitions(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    steady: SteadyState,
    evidence: Evidence,
    tmp_path: Path,
) -> None:
    """Run the monitor as cron would: twice up, three times down (a hard dependency's link
    down), twice up again. Exactly two alerts may come: DOWN, then UP."""
    require_links(faults)
    settings = profile.uptime_monitor
    if settings is None:
        pytest.skip("the profile describes no uptime monitor ([uptime_monitor])")
    health = profile.policy.health
    hard = readiness_services(own_stack).get(settings.service, [])
    links = dependency_links(faults, settings.service, hard)
    if not links:
        pytest.skip(f"{settings.service} has no hard dependency to take away")
    readiness = health_endpoint(own_stack, settings.service, "readiness")
    steady.require("before the monitor runs")
    with WebhookReceiver() as webhook:
        own_stack.run.secrets.add("alert webhook", webhook.url)
        monitor = UptimeMonitor(own_stack, settings, tmp_path / "monitor-state.json", webhook.url)
        runs: list[tuple[str, str]] = []

        def run(phase: str, times: int) -> None:
            for _ in range(times):
                done = monitor.run_once()
                runs.append((phase, done.output[-300:]))
                if done.exit_code != 0:
                    pytest.fail(
                        f"the monitor failed ({done.exit_code}) while {phase}: {done.output}"
                    )

        run("up", 2)
        with faults.on_links(links, faults.down):
            detected = readiness.await_status({503}, health.detect_within_s, health.poll_interval_s)
            if detected is None:
                raise PreconditionError(
                    f"{settings.service} readiness did not turn 503 with {links} down"
                )
            run("down", 3)
        if readiness.await_status({200}, health.recover_within_s, health.poll_interval_s) is None:
            raise PreconditionError(f"{settings.service} readiness did not return to 200")
        run("up again", 2)
        alerts = [(monitor.classify(m), m.text[:200]) for m in webhook.messages()]
    evidence.add("monitor runs (phase, output)", runs)
    evidence.add("alerts received", alerts)
    kinds = [kind for kind, _ in alerts]
    if kinds != ["DOWN", "UP"]:
        pytest.fail(
            f"expected exactly one DOWN alert then one UP alert over 7 runs (up 2, down 3, "
            f"up 2); got {len(alerts)}: {alerts}",
            pytrace=False,
        )
