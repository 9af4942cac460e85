"""Wiring for the auth suite: the profile's [auth] facts and clients of their own."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from stackproof.backends import Stack
from stackproof.checks.clients import own_client_address
from stackproof.checks.http import FrontClient
from stackproof.checks.needs import secret_of
from stackproof.checks.oauth import LinkFlow
from stackproof.profile import Profile
from stackproof.profile.auth import AuthSettings, OAuthSettings


@pytest.fixture(scope="session")
def auth(profile: Profile) -> AuthSettings:
    if profile.auth is None:
        pytest.skip("the profile has no [auth] section (API key, rate-limited path, OAuth)")
    return profile.auth


@pytest.fixture(scope="session")
def oauth(auth: AuthSettings) -> OAuthSettings:
    if auth.oauth is None:
        pytest.skip("the profile has no [auth.oauth] section")
    return auth.oauth


@pytest.fixture
def client_of(front_client: Callable[..., FrontClient]) -> Callable[[Stack], FrontClient]:
    """A client of the stack's front from an address of its own (a fresh rate-limit count)."""

    def make(target: Stack) -> FrontClient:
        return front_client(target, source_address=own_client_address(target.public))

    return make


@pytest.fixture
def link_flow(
    stack: Stack, oauth: OAuthSettings, client_of: Callable[[Stack], FrontClient]
) -> Iterator[LinkFlow]:
    context_key = secret_of(
        stack,
        oauth.context_key_secret,
        what="OAuth context key",
        purpose="no context token can be signed to start the linking flow",
    )
    flow = LinkFlow(stack, oauth, client_of(stack), context_key)
    yield flow
    flow.close()
