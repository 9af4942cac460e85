"""Fixtures the suites use: the stack, its public front, evidence, and per-test stacks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from stackproof.backends import Stack
from stackproof.checks.evidence import Evidence
from stackproof.checks.http import FrontClient
from stackproof.errors import CapabilityMissingError, StackproofError
from stackproof.fakes.discord import DiscordSigner
from stackproof.profile import Profile
from stackproof.pytest_plugin.keys import EVIDENCE, SESSION
from stackproof.pytest_plugin.outcomes import describe
from stackproof.pytest_plugin.session import RunSession


@pytest.fixture(scope="session")
def run_session(pytestconfig: pytest.Config) -> RunSession:
    return pytestconfig.stash[SESSION]


@pytest.fixture(scope="session")
def profile(run_session: RunSession) -> Profile:
    return run_session.profile


@contextmanager
def _stack_or_error(run_session: RunSession, label: str) -> Iterator[Stack]:
    """A stack that cannot come up is the test's error, told without a traceback."""
    failure = None
    try:
        with run_session.stack(label) as up:
            yield up
    except StackproofError as error:
        failure = describe(error)
    if failure is not None:  # outside `except`, so no chained traceback is printed
        pytest.fail(failure, pytrace=False)


@pytest.fixture(scope="session")
def stack(run_session: RunSession) -> Iterator[Stack]:
    """The stack shared by every non-destructive test of the run."""
    with _stack_or_error(run_session, "main") as shared:
        yield shared


@pytest.fixture
def own_stack(run_session: RunSession, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A stack for this test alone: destructive tests break it freely."""
    if request.node.get_closest_marker("destructive") is None:
        raise pytest.UsageError(f"{request.node.nodeid}: own_stack is for destructive tests")
    with _stack_or_error(run_session, run_session.next_label(request.node.name)) as mine:
        yield mine


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Evidence:
    recorder = Evidence(request.node.nodeid)
    request.node.stash[EVIDENCE] = recorder
    return recorder


@pytest.fixture
def front_client(evidence: Evidence) -> Iterator[Callable[..., FrontClient]]:
    """Make clients of any stack's public front; each records its exchanges as evidence.

    `make(stack, source_address="127.0.0.2")` connects from that address (a client of its
    own for per-client limits)."""
    made: list[FrontClient] = []

    def make(target: Stack, source_address: str | None = None) -> FrontClient:
        client = FrontClient(target.public, evidence, source_address=source_address)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def front(stack: Stack, front_client: Callable[[Stack], FrontClient]) -> FrontClient:
    return front_client(stack)


@pytest.fixture(scope="session")
def discord(stack: Stack) -> DiscordSigner:
    try:
        return stack.signer()
    except CapabilityMissingError as error:
        pytest.skip(error.reason())
