"""R-RES-2: a service started while its database is unreachable never serves half-made."""

from __future__ import annotations

import contextlib
import time

import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.chaos import dependency_links, readiness_services, require_links
from stackproof.checks.evidence import Evidence
from stackproof.checks.health import health_endpoint
from stackproof.checks.needs import require
from stackproof.checks.problems import Problems
from stackproof.errors import ServiceStartError
from stackproof.faults.injector import StackFaults
from stackproof.profile import Profile
from stackproof.readiness import Check, wait_for


class Watch:
    """A condition that never holds: each look notes ready answers and exits (the service's
    identity gone or changed: exited, perhaps restarted by a supervisor)."""

    description = "the services started without their database"

    def __init__(self, stack: Stack, services: list[str]) -> None:
        self.stack = stack
        self.endpoints = {name: health_endpoint(stack, name, "readiness") for name in services}
        self.ready_while_cut_off: dict[str, list[float]] = {name: [] for name in services}
        self.identities: dict[str, set[str | None]] = {name: set() for name in services}
        self.started = time.monotonic()

    def exited(self, name: str) -> bool:
        return len(self.identities[name]) > 1 or None in self.identities[name]

    def check(self) -> Check:
        for name, endpoint in self.endpoints.items():
            self.identities[name].add(self.stack.service(name).identity())
            response, _, _ = endpoint.get(timeout_s=2.0)
            if response is not None and response.status_code == 200:
                self.ready_while_cut_off[name].append(round(time.monotonic() - self.started, 2))
        return Check(False, "watching")


@pytest.mark.destructive
@pytest.mark.requirement("R-RES-2")
def test_services_started_without_their_database_wait_or_exit_cleanly(
    own_stack: Stack, profile: Profile, faults: StackFaults, evidence: Evidence
) -> None:
    """Given each database-backed service stopped, its database link down, it is started:
    it must never answer ready while cut off; it either exits non-zero saying why (no
    secret in what it says) or keeps waiting, and is ready within the budget once the
    database is reachable again."""
    require(own_stack, Capability.CONTROL)
    require_links(faults)
    policy = profile.policy.health
    databases = {n for n, s in profile.services.items() if s.kind == "postgres"}
    services = {
        name: dependency_links(faults, name, [d for d in deps if d in databases])
        for name, deps in readiness_services(own_stack).items()
    }
    services = {name: links for name, links in services.items() if links}
    if not services:
        pytest.skip("no service with a readiness endpoint depends on a database")
    links = [link for service_links in services.values() for link in service_links]
    logs_before = {name: len(own_stack.logs(name)) for name in services}
    for name in services:
        own_stack.service(name).stop()
    watch = Watch(own_stack, list(services))
    with faults.on_links(links, faults.down):
        for name in services:
            own_stack.service(name).start(wait=False)
        watch.started = time.monotonic()
        # Watch for as long as a dependency failure may take to show: every look must
        # find the service unready or gone.
        with contextlib.suppress(ServiceStartError):  # the watch ends at its deadline
            wait_for(watch, timeout_s=policy.detect_within_s, what="watch", interval_s=0.2)
    problems = Problems("services started without their database")
    for name in services:
        said = own_stack.logs(name)[logs_before[name] :]
        evidence.add(f"{name}: what it said while cut off", tail_lines(said))
        if times := watch.ready_while_cut_off[name]:
            problems.add(name, f"answered ready while its database was unreachable (at {times} s)")
        if leaked := own_stack.run.secrets.scrub(said)[1]:
            problems.add(name, f"its output carries secrets of the stack: {', '.join(leaked)}")
        if watch.exited(name):
            evidence.add(f"{name} exited while cut off", sorted(map(str, watch.identities[name])))
            problems.expect(bool(said.strip()), name, "exited without saying why")
    for name in services:  # the database is back: ready within the budget, restarted or not
        started = time.monotonic()
        own_stack.service(name).start(wait=False)
        endpoint = health_endpoint(own_stack, name, "readiness")
        took = endpoint.await_status({200}, policy.recover_within_s, policy.poll_interval_s)
        if took is None:
            problems.add(
                name,
                f"not ready {policy.recover_within_s:g} s after its database became reachable",
            )
        else:
            evidence.figure(
                f"{name}_ready_after_database_returns_s",
                time.monotonic() - started,
                "s",
                objective=policy.recover_within_s,
                comparison="<=",
            )
    problems.raise_if_any()


def tail_lines(text: str, lines: int = 15) -> str:
    return "\n".join(text.splitlines()[-lines:])
