"""What the chaos and fault-driven health tests share: skips that say why, and the services
and links a profile's health settings point at."""

from __future__ import annotations

import pytest

from stackproof.backends.base import Stack
from stackproof.checks.commands import CommandClient, CommandUnavailableError
from stackproof.checks.writes import WriteLedger
from stackproof.errors import CapabilityMissingError
from stackproof.faults.injector import StackFaults
from stackproof.profile import Profile


def require_links(faults: StackFaults) -> None:
    __tracebackhide__ = True
    if reason := faults.links_unavailable():
        pytest.skip(f"network faults need the stack's links on a fault proxy: {reason}")


def require_partitions(faults: StackFaults) -> None:
    __tracebackhide__ = True
    if reason := faults.partitions_unavailable():
        pytest.skip(f"partitions are not possible here: {reason}")


def command_timeout_s(profile: Profile) -> float:
    """How long to wait for an answer: twice the caller's patience shows a late one."""
    return profile.policy.resilience.answer_within_s * 2


def command_client(stack: Stack) -> CommandClient:
    __tracebackhide__ = True
    try:
        return CommandClient(stack, timeout_s=command_timeout_s(stack.profile))
    except CommandUnavailableError as error:
        pytest.skip(f"this check sends the profile's command: {error}")


def write_ledger(stack: Stack) -> WriteLedger:
    __tracebackhide__ = True
    try:
        return WriteLedger(stack)
    except (CommandUnavailableError, CapabilityMissingError) as error:
        pytest.skip(f"this check counts the command's writes: {error}")


def readiness_services(stack: Stack, *, kind: str = "hard") -> dict[str, list[str]]:
    """Services with a readiness endpoint -> their hard (or soft) dependencies."""
    found: dict[str, list[str]] = {}
    for name, service in stack.profile.services.items():
        health = service.health
        dependencies = health.hard_dependencies if kind == "hard" else health.soft_dependencies
        if health.readiness and dependencies:
            found[name] = list(dependencies)
    return found


def dependency_links(faults: StackFaults, service: str, dependencies: list[str]) -> list[str]:
    """The proxied links from `service` to each of `dependencies`."""
    wanted = set(dependencies)
    return [link for link in faults.links_from(service) if faults.proxy(link).target in wanted]
