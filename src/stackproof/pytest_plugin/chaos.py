"""Fixtures for tests that inject faults: they all act on the test's own stack.

- `faults`: `StackFaults` of the test's stack (network, process and partition faults, each a
  context manager that undoes itself);
- `commands`: the profile's command, signed and sent through the front;
- `ledger`: the rows the command writes, counted in the database;
- `steady`: the steady-state probe (health 200, the command answered, its write landed).

A test taking them is destructive (it gets `own_stack`, which insists on the marker).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from stackproof.backends import Stack
from stackproof.checks.chaos import command_client, command_timeout_s, write_ledger
from stackproof.checks.commands import CommandClient, CommandUnavailableError
from stackproof.checks.steady import SteadyState
from stackproof.checks.writes import WriteLedger
from stackproof.faults.injector import StackFaults
from stackproof.profile import Profile


@pytest.fixture
def faults(own_stack: Stack) -> Iterator[StackFaults]:
    injector = StackFaults(own_stack)
    yield injector
    injector.close()


@pytest.fixture
def commands(own_stack: Stack) -> Iterator[CommandClient]:
    client = command_client(own_stack)
    yield client
    client.close()


@pytest.fixture
def ledger(own_stack: Stack) -> WriteLedger:
    return write_ledger(own_stack)


@pytest.fixture
def steady(own_stack: Stack, profile: Profile) -> Iterator[SteadyState]:
    """Steady state of the test's stack; covers the command where the profile has one."""
    client: CommandClient | None = None
    ledger: WriteLedger | None = None
    if profile.command is not None:
        try:
            client = CommandClient(own_stack, timeout_s=command_timeout_s(profile))
        except CommandUnavailableError:
            client = None
        else:
            ledger = write_ledger(own_stack) if profile.command.database else None
    probe = SteadyState(
        own_stack, client, ledger, write_within_s=profile.policy.resilience.writes_land_within_s
    )
    yield probe
    if client is not None:
        client.close()
