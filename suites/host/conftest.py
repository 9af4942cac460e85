"""Wiring for the host suite: the host the stack runs on, and the profile's hardening policy."""

from __future__ import annotations

import pytest

from stackproof.backends import Stack
from stackproof.backends.hosts import HostAccess
from stackproof.errors import CapabilityMissingError
from stackproof.profile import Profile
from stackproof.profile.remote import HostPolicy


@pytest.fixture(scope="session")
def host(stack: Stack) -> HostAccess:
    try:
        return stack.host()
    except CapabilityMissingError as error:
        pytest.skip(error.reason())


@pytest.fixture(scope="session")
def hardening(profile: Profile) -> HostPolicy:
    return profile.remote.hardening
