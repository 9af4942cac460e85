"""R-RES-4: a slow database slows answers but not past the timeout; a black-holed one
gives 503 (and answers), never a hang."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import pytest

from stackproof.backends import Stack
from stackproof.checks.chaos import (
    dependency_links,
    readiness_services,
    require_links,
    require_partitions,
)
from stackproof.checks.commands import CommandClient
from stackproof.checks.evidence import Evidence
from stackproof.checks.health import health_endpoint
from stackproof.checks.problems import Problems
from stackproof.checks.steady import SteadyState
from stackproof.faults.injector import StackFaults
from stackproof.profile import Profile

ANSWERS = 3


def databases(profile: Profile) -> list[str]:
    return [name for name, service in profile.services.items() if service.kind == "postgres"]


def database_links(stack: Stack, faults: StackFaults, profile: Profile) -> list[str]:
    wanted = databases(profile)
    return [
        link
        for service, deps in readiness_services(stack).items()
        for link in dependency_links(faults, service, [d for d in deps if d in wanted])
    ]


def answers_within(
    commands: CommandClient,
    budget_s: float,
    label: str,
    problems: Problems,
    evidence: Evidence,
    *,
    with_data: bool,
) -> None:
    for _ in range(ANSWERS):
        answer = commands.send()
        evidence.add(label, answer.describe())
        evidence.figure(
            f"answer_{label.replace(' ', '_')}_s",
            answer.took_s,
            "s",
            objective=budget_s,
            comparison="<=",
        )
        if answer.status is None or answer.took_s > budget_s:
            problems.add(label, f"{answer.describe()}: no answer within {budget_s:g} s")
            return  # one hang says it; more would only wait out more timeouts
        if with_data and not answer.has_data:
            problems.add(label, f"{answer.describe()}: answered without data")


@pytest.mark.destructive
@pytest.mark.requirement("R-RES-4")
@pytest.mark.needs("fault_links")
def test_answers_come_within_the_timeout_under_database_latency(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    commands: CommandClient,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    require_links(faults)
    resilience = profile.policy.resilience
    links = database_links(own_stack, faults, profile)
    problems = Problems(f"answers under {resilience.db_latency_ms} ms of database latency")
    steady.require("before the latency")
    with faults.on_links(links, lambda link: faults.latency(link, resilience.db_latency_ms)):
        answers_within(
            commands,
            resilience.answer_within_s,
            "database latency",
            problems,
            evidence,
            with_data=True,
        )
    steady.await_again(profile.policy.health.recover_within_s, "after the latency")
    problems.raise_if_any()


def _black_hole_checks(
    own_stack: Stack,
    profile: Profile,
    fault: Callable[[], AbstractContextManager[object]],
    label: str,
    commands: CommandClient,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    __tracebackhide__ = True
    health = profile.policy.health
    budget = profile.policy.resilience.answer_within_s
    problems = Problems(f"the stack with its database {label}")
    steady.require(f"before the {label}")
    with fault():
        for name in readiness_services(own_stack):
            endpoint = health_endpoint(own_stack, name, "readiness")
            response, took, error = endpoint.get(timeout_s=health.detect_within_s * 2)
            evidence.figure(
                f"{name}_readiness_{label.replace(' ', '_')}_s",
                took,
                "s",
                objective=health.slow_readiness_within_s,
                comparison="<=",
            )
            status = response.status_code if response is not None else None
            if status != 503 or took > health.slow_readiness_within_s:
                seen = f"status {status}" if status is not None else f"no answer ({error})"
                problems.add(
                    name,
                    f"readiness: {seen} after {took:.2f} s, expected 503 within "
                    f"{health.slow_readiness_within_s:g} s",
                )
        answers_within(commands, budget, label, problems, evidence, with_data=False)
    steady.await_again(health.recover_within_s, f"after the {label}")
    problems.raise_if_any()


@pytest.mark.destructive
@pytest.mark.requirement("R-RES-4")
@pytest.mark.needs("fault_links")
def test_a_black_holed_database_gives_503_not_a_hang(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    commands: CommandClient,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    """A timeout toxic (timeout 0: data held until removed) on every link to the database."""
    require_links(faults)
    links = database_links(own_stack, faults, profile)
    _black_hole_checks(
        own_stack,
        profile,
        lambda: faults.on_links(links, faults.timeout),
        "black-holed",
        commands,
        steady,
        evidence,
    )


@pytest.mark.destructive
@pytest.mark.requirement("R-RES-4")
@pytest.mark.needs("partitions", "database")
def test_a_partitioned_database_gives_503_not_a_hang(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    commands: CommandClient,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    """The database cut off by iptables (packets dropped in the kernel), not by the proxy."""
    require_partitions(faults)
    names = databases(profile)
    if not names:
        pytest.skip("the profile has no PostgreSQL service")
    _black_hole_checks(
        own_stack,
        profile,
        lambda: faults.partitioned(names[0]),
        "partitioned",
        commands,
        steady,
        evidence,
    )
