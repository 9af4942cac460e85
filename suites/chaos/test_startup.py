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
    """Holds once every service has been watched for `window_s` since it first showed itself
    (answered its readiness at all, or exited): a service still importing on a busy host has
    not met its missing database yet, so a window counted from its start would judge
    nothing. Each look notes ready answers and exits (the service's identity gone after it
    ran, or changed: exited, perhaps restarted by a supervisor)."""

    description = "each service watched since it first answered or exited"

    def __init__(self, stack: Stack, services: list[str], window_s: float) -> None:
        self.stack = stack
        self.window_s = window_s
        self.endpoints = {name: health_endpoint(stack, name, "readiness") for name in services}
        self.ready_while_cut_off: dict[str, list[float]] = {name: [] for name in services}
        self.identities: dict[str, list[str | None]] = {name: [] for name in services}
        self.shown_at: dict[str, float] = {}
        self.started = time.monotonic()

    def exited(self, name: str) -> bool:
        """Seen as two processes, or gone after running; a backend that tells no identity
        (never anything but None) is not taken for an exit, nor is a process not yet made."""
        seen = self.identities[name]
        ran = [i for i in seen if i is not None]
        gone_after_running = bool(ran) and None in seen[seen.index(ran[0]) :]
        return len(set(ran)) > 1 or gone_after_running

    def silent(self) -> list[str]:
        """Services that neither answered nor exited: they kept waiting (or never started)."""
        return [name for name in self.endpoints if name not in self.shown_at]

    def check(self) -> Check:
        now = time.monotonic()
        for name, endpoint in self.endpoints.items():
            self.identities[name].append(self.stack.service(name).identity())
            response, _, _ = endpoint.get(timeout_s=2.0)
            if response is not None or self.exited(name):
                self.shown_at.setdefault(name, now)
            if response is not None and response.status_code == 200:
                self.ready_while_cut_off[name].append(round(now - self.started, 2))
        waiting = [n for n in self.endpoints if now - self.shown_at.get(n, now) < self.window_s]
        return Check(not waiting, f"still watching {', '.join(waiting)}" if waiting else "done")


@pytest.mark.destructive
@pytest.mark.requirement("R-RES-2")
@pytest.mark.needs("control", "fault_links", "database_behind_readiness")
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
        pytest.skip("no service with a readiness endpoint depends on a PostgreSQL database")
    links = [link for service_links in services.values() for link in service_links]
    logs_before = {name: len(own_stack.logs(name)) for name in services}
    for name in services:
        own_stack.service(name).stop()
    watch = Watch(own_stack, list(services), window_s=policy.detect_within_s)
    # A service gets its own start budget to show itself, then the window.
    budget_s = max(profile.services[name].process.ready_timeout_s for name in services)
    with faults.on_links(links, faults.down):
        for name in services:
            own_stack.service(name).start(wait=False)
        watch.started = time.monotonic()
        # Watch for as long as a dependency failure may take to show once the service is
        # up: every look must find it unready or gone.
        with contextlib.suppress(ServiceStartError):  # a silent service: the deadline ends it
            wait_for(watch, timeout_s=budget_s + watch.window_s, what="watch", interval_s=0.2)
    problems = Problems("services started without their database")
    if silent := watch.silent():
        evidence.add("kept waiting (neither answered nor exited while cut off)", silent)
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
