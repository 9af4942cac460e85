"""Fault schedules drawn by Hypothesis: whatever the links do, the stack stays truthful and
loses nothing (R-HLT-1, R-HLT-3, R-RES-3).

A schedule is a few steps; each puts one fault on one link (kept through the later steps
or lifted after its own) and sends a few commands meanwhile. Invariants:

- liveness answers 200 at every step (R-HLT-1);
- readiness is 200 again within the recovery budget once every fault is gone (R-HLT-3);
- every accepted command's row lands exactly once, and no row is written twice (R-RES-3).

A failure shrinks to the smallest schedule that still breaks an invariant. Settings come
from the suite's Hypothesis profile (derandomized and bounded by default; see conftest).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass

import pytest
from hypothesis import example, given, note
from hypothesis import strategies as st

from stackproof.backends import Stack
from stackproof.checks.chaos import require_links
from stackproof.checks.commands import CommandAnswer, CommandClient
from stackproof.checks.evidence import Evidence
from stackproof.checks.problems import Problems
from stackproof.checks.steady import SteadyState, health_endpoints
from stackproof.checks.writes import WriteLedger
from stackproof.faults.injector import StackFaults
from stackproof.profile import Profile

Fault = Callable[[StackFaults, str, int], AbstractContextManager[object]]

# Each fault kind with the parameter values drawn for it.
FAULTS: dict[str, tuple[Fault, tuple[int, ...]]] = {
    "down": (lambda f, link, _: f.down(link), (0,)),
    "latency_ms": (lambda f, link, ms: f.latency(link, ms), (100, 500, 1500)),
    "timeout_ms": (lambda f, link, ms: f.timeout(link, ms), (0, 500)),
    "reset_peer_ms": (lambda f, link, ms: f.reset_peer(link, ms), (0, 200)),
    "limit_data_bytes": (lambda f, link, n: f.limit_data(link, n), (64, 2048)),
    "bandwidth_kb_s": (lambda f, link, rate: f.bandwidth(link, rate), (2, 64)),
    "slicer_bytes": (lambda f, link, size: f.slicer(link, size, 0, 100), (1, 16)),
}


@dataclass(frozen=True, slots=True)
class Step:
    link: str
    fault: str
    value: int
    commands: int
    keep: bool  # still on during the later steps

    def __str__(self) -> str:
        kept = ", kept" if self.keep else ""
        return f"{self.fault}={self.value} on {self.link}, {self.commands} command(s){kept}"


def steps(links: list[str]) -> st.SearchStrategy[Step]:
    return st.sampled_from(sorted(FAULTS)).flatmap(
        lambda fault: st.builds(
            Step,
            link=st.sampled_from(links),
            fault=st.just(fault),
            value=st.sampled_from(FAULTS[fault][1]),
            commands=st.integers(min_value=0, max_value=2),
            keep=st.booleans(),
        )
    )


class Run:
    """One schedule played against the stack, and what it broke."""

    def __init__(self, stack: Stack, faults: StackFaults, commands: CommandClient) -> None:
        self.faults = faults
        self.commands = commands
        self.liveness = [e for e in health_endpoints(stack) if e.kind == "liveness"]
        self.answers: list[CommandAnswer] = []
        self.problems = Problems("fault schedule")

    def play(self, schedule: list[Step], liveness_budget_s: float) -> None:
        with ExitStack() as kept:
            for index, step in enumerate(schedule):
                fault, _ = FAULTS[step.fault]
                with ExitStack() as this_step:
                    scope = kept if step.keep else this_step
                    scope.enter_context(fault(self.faults, step.link, step.value))
                    for _ in range(step.commands):
                        self.answers.append(self.commands.send())
                    self.check_liveness(f"step {index + 1} ({step})", liveness_budget_s)

    def check_recovery(self, stack: Stack, budget_s: float, interval_s: float) -> None:
        for endpoint in health_endpoints(stack):
            if endpoint.kind != "readiness":
                continue
            if endpoint.await_status({200}, budget_s, interval_s) is None:
                self.problems.add(
                    "R-HLT-3 readiness",
                    f"{endpoint.service} not 200 {budget_s:g} s after the faults were gone",
                )

    def check_writes(self, ledger: WriteLedger) -> None:
        counts = ledger.counts(a.interaction_id for a in self.answers)
        for answer in self.answers:
            count = counts[answer.interaction_id]
            if (answer.accepted and count != 1) or count > 1:
                state = "accepted" if answer.accepted else f"refused ({answer.describe()})"
                self.problems.add(
                    "R-RES-3 writes", f"{answer.interaction_id}: {state}, {count} row(s)"
                )

    def check_liveness(self, moment: str, budget_s: float) -> None:
        for endpoint in self.liveness:
            response, _, error = endpoint.get(timeout_s=budget_s)
            if response is None or response.status_code != 200:
                seen = error if response is None else response.status_code
                self.problems.add("R-HLT-1 liveness", f"{endpoint.service} at {moment}: {seen}")


def known_hard_cases(profile: Profile, faults: StackFaults) -> list[list[Step]]:
    """Schedules always tried first: the command's database link down, and black-holed,
    while commands come in (an outage, and acknowledgements lost)."""
    settings = profile.command
    if settings is None or settings.database is None:
        return []
    link = faults.link(settings.service, settings.database)
    return [
        [Step(link, "down", 0, commands=2, keep=False)],
        [Step(link, "timeout_ms", 0, commands=2, keep=False)],
    ]


@pytest.mark.destructive
@pytest.mark.requirement("R-RES-3", "R-HLT-1", "R-HLT-3")
@pytest.mark.needs("fault_links")
def test_fault_schedules_keep_the_stack_truthful_and_lose_nothing(
    own_stack: Stack,
    profile: Profile,
    faults: StackFaults,
    commands: CommandClient,
    ledger: WriteLedger,
    steady: SteadyState,
    evidence: Evidence,
) -> None:
    require_links(faults)
    health = profile.policy.health
    resilience = profile.policy.resilience
    examples: list[str] = []

    def keeps_invariants(schedule: list[Step]) -> None:
        note(f"schedule: {[str(step) for step in schedule]}")
        examples.append("; ".join(map(str, schedule)))
        steady.await_again(resilience.writes_land_within_s, "before the schedule")
        run = Run(own_stack, faults, commands)
        run.play(schedule, health.liveness_within_s)
        run.check_recovery(own_stack, health.recover_within_s, health.poll_interval_s)
        accepted = [a.interaction_id for a in run.answers if a.accepted]
        ledger.await_landed(accepted, resilience.writes_land_within_s)
        steady.await_again(resilience.writes_land_within_s, "after the schedule")  # a barrier
        run.check_writes(ledger)
        if run.problems:
            pytest.fail(run.problems.report(), pytrace=False)

    property_test = given(schedule=st.lists(steps(faults.links()), min_size=1, max_size=3))(
        keeps_invariants
    )
    for schedule in known_hard_cases(profile, faults):
        property_test = example(schedule=schedule)(property_test)
    steady.require("before any schedule")
    try:
        property_test()
    finally:
        evidence.add("schedules played", examples)
