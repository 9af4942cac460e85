"""Skip, saying why, when a backend cannot do what a check needs."""

from __future__ import annotations

import pytest

from stackproof.backends import Capability, Stack


def require(stack: Stack, capability: Capability) -> None:
    __tracebackhide__ = True
    if not stack.can(capability):
        backend = type(stack).__name__
        pytest.skip(f"{backend} cannot {capability.value}, which this check needs")
