"""Skip, saying why, when a backend cannot do what a check needs or there is nothing to check."""

from __future__ import annotations

from typing import NoReturn

import pytest

from stackproof.backends import Capability, Stack
from stackproof.errors import CapabilityMissingError

WHAT = {
    Capability.CONTROL: "control services",
    Capability.LOGS: "read service logs",
    Capability.EXEC: "run commands beside a service",
    Capability.OPS: "run the stack's operations scripts",
}


def require(stack: Stack, capability: Capability) -> None:
    """Skip unless the stack's backend can do `capability`, saying what would enable it."""
    __tracebackhide__ = True
    if not stack.can(capability):
        backend = type(stack).__name__
        what = WHAT.get(capability, capability.value)
        pytest.skip(
            f"{backend} cannot {what}, which this check needs "
            "(to enable: a backend that can, such as --backend=process)"
        )


def nothing_to_check(reason: str, enable: str | None = None) -> NoReturn:
    """A check whose loop would run over nothing skips, never passes: `reason` says what is
    missing, `enable` what (a profile key, a backend) would give it something to check."""
    __tracebackhide__ = True
    pytest.skip(f"{reason} (to enable: {enable})" if enable else reason)


def secret_of(stack: Stack, name: str, *, what: str, purpose: str) -> str:
    """The run's value of one of the profile's `secrets`. A backend that holds none (a
    remote stack keeps its secrets to itself) makes the check skip, saying what it needed
    the secret for."""
    __tracebackhide__ = True
    try:
        return stack.secret(name)
    except CapabilityMissingError:
        pytest.skip(
            f"{type(stack).__name__} holds no {what} of the stack (secret {name!r}), so "
            f"{purpose} (to enable: a backend that holds the stack's secrets, such as "
            "process; the remote backend does not yet)"
        )
