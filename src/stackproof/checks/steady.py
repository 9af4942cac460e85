"""The steady state every chaos test starts from and must return to.

Steady means: every liveness endpoint answers 200, every readiness endpoint answers 200 and,
where the profile describes a command, the command is answered with data and the row it
writes lands. `SteadyState` is a readiness `Condition`, so "steady again within the budget"
is `wait_for(steady, timeout_s=budget)`. `require` (before a fault) raises
`PreconditionError` — a stack not steady to begin with proves nothing about the fault, so
the test is `error`; `await_again` (after it) fails the test: not recovering is a finding.
Both list everything that is not steady.
"""

from __future__ import annotations

import time

import pytest

from stackproof.backends.base import Stack
from stackproof.checks.commands import CommandAnswer, CommandClient
from stackproof.checks.health import HealthEndpoint, health_endpoint
from stackproof.checks.problems import Problems
from stackproof.checks.writes import WriteLedger
from stackproof.errors import PreconditionError, ServiceStartError
from stackproof.readiness import Check, wait_for

HEALTH_TIMEOUT_S = 2.0


def health_endpoints(stack: Stack) -> list[HealthEndpoint]:
    found = []
    for name, service in stack.profile.services.items():
        if service.health.liveness:
            found.append(health_endpoint(stack, name, "liveness"))
        if service.health.readiness:
            found.append(health_endpoint(stack, name, "readiness"))
    return found


class SteadyState:
    description = "the stack is steady (health 200, the command answered, its write landed)"

    def __init__(
        self,
        stack: Stack,
        commands: CommandClient | None = None,
        ledger: WriteLedger | None = None,
        *,
        write_within_s: float = 10.0,
    ) -> None:
        self.stack = stack
        self.commands = commands
        self.ledger = ledger
        self.write_within_s = write_within_s
        self.endpoints = health_endpoints(stack)
        self.last = Problems("steady state")
        self.answers: list[CommandAnswer] = []  # every command the probe sent

    def look(self) -> Problems:
        """One look at everything steady means; the problems seen (none: steady)."""
        problems = Problems("steady state")
        for endpoint in self.endpoints:
            response, _, error = endpoint.get(timeout_s=HEALTH_TIMEOUT_S)
            status = response.status_code if response is not None else None
            if status != 200:
                seen = status if status is not None else error
                problems.add(f"{endpoint.service} {endpoint.kind}", f"{seen}, expected 200")
        if problems or self.commands is None:
            return problems
        answer = self.commands.send()
        self.answers.append(answer)
        if not answer.has_data:
            problems.add("command", f"{answer.describe()}, expected an answer with data")
        elif self.ledger is not None:
            counts, _ = self.ledger.await_landed([answer.interaction_id], self.write_within_s)
            if counts[answer.interaction_id] != 1:
                problems.add(
                    "write",
                    f"{answer.interaction_id}: {counts[answer.interaction_id]} row(s) "
                    f"{self.write_within_s:g} s after the answer, expected 1",
                )
        return problems

    def check(self) -> Check:
        self.last = self.look()
        return Check(not self.last, "steady" if not self.last else self.last.report())

    def require(self, moment: str) -> None:
        """Raise PreconditionError unless the stack is steady now (`moment`: "before the
        fault"): the check cannot judge a fault on a stack that was not steady."""
        __tracebackhide__ = True
        problems = self.look()
        if problems:
            raise PreconditionError(f"not steady {moment}:\n{problems.report()}")

    def await_again(self, timeout_s: float, moment: str) -> float:
        """Seconds until steady again; fail the test if not within `timeout_s`."""
        __tracebackhide__ = True
        started = time.monotonic()
        try:
            wait_for(self, timeout_s=timeout_s, what="the steady state", interval_s=0.1)
        except ServiceStartError:
            pytest.fail(
                f"not steady again {timeout_s:g} s {moment}:\n{self.last.report()}",
                pytrace=False,
            )
        return time.monotonic() - started
