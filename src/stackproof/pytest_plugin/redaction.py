"""Fixtures of the redaction suite: one stack driven down its error paths, and what it said.

- `redaction_settings`: the profile's `[redaction]` (the tests skip without it);
- `redaction_stack`: a stack of its own, shared by the module's destructive tests;
- `error_paths`: that stack driven down every error path once (`ErrorPathDrive`);
- `sentry_client`: reads what the profile's Sentry ingest of that stack received;
- `sentry_of`: the same for any stack (`sentry_of(own_stack).events()`), for other suites;
- `emitted`: every sink of the driven stack (service logs, answers, envelopes, a pg_dump).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from stackproof.backends import Stack
from stackproof.checks.errorpaths import ErrorPathDrive
from stackproof.checks.leaks import Sinks
from stackproof.errors import PreconditionError
from stackproof.fakes.sentry import SentryFakeClient
from stackproof.profile import Profile
from stackproof.profile.model import RedactionSettings
from stackproof.pytest_plugin.fixtures import _stack_or_error
from stackproof.pytest_plugin.session import RunSession

SENTRY_EVENTS_WITHIN_S = 60.0


@pytest.fixture(scope="module")
def redaction_settings(profile: Profile) -> RedactionSettings:
    if profile.redaction is None:
        pytest.skip("the profile has no [redaction] section naming the services to scan")
    return profile.redaction


@pytest.fixture(scope="module")
def redaction_stack(
    run_session: RunSession, redaction_settings: RedactionSettings
) -> Iterator[Stack]:
    with _stack_or_error(run_session, run_session.next_label("redaction")) as mine:
        yield mine


@pytest.fixture(scope="module")
def sentry_client(
    redaction_stack: Stack, redaction_settings: RedactionSettings
) -> Iterator[SentryFakeClient]:
    if redaction_settings.sentry is None:
        pytest.skip("the profile names no Sentry ingest (redaction.sentry)")
    client = SentryFakeClient(redaction_stack.service(redaction_settings.sentry).base_url())
    yield client
    client.close()


@pytest.fixture
def sentry_of(profile: Profile) -> Iterator[Callable[[Stack], SentryFakeClient]]:
    """Clients of the Sentry ingest (the profile's `redaction.sentry`) of any stack."""
    if profile.redaction is None or profile.redaction.sentry is None:
        pytest.skip("the profile names no Sentry ingest (redaction.sentry)")
    name = profile.redaction.sentry
    made: list[SentryFakeClient] = []

    def make(target: Stack) -> SentryFakeClient:
        made.append(SentryFakeClient(target.service(name).base_url()))
        return made[-1]

    yield make
    for client in made:
        client.close()


@pytest.fixture(scope="module")
def error_paths(
    redaction_stack: Stack, profile: Profile, run_session: RunSession
) -> Iterator[ErrorPathDrive]:
    drive = ErrorPathDrive(redaction_stack, profile, run_session.run.secrets)
    try:
        drive.run()
        yield drive
    finally:
        drive.close()


@pytest.fixture(scope="module")
def emitted(
    error_paths: ErrorPathDrive,
    redaction_stack: Stack,
    sentry_client: SentryFakeClient,
    profile: Profile,
) -> Sinks:
    sinks = Sinks()
    # The drive's error events (the database refusing twice, the upstream once) must be in.
    sentry_client.wait_for("event", 3, timeout_s=SENTRY_EVENTS_WITHIN_S)
    for index, body in enumerate(sentry_client.bodies()):
        sinks.add(f"sentry/envelope-{index}", body)
    for index, exchange in enumerate(error_paths.exchanges):
        sinks.add(f"answers/{index}: {exchange.request} → {exchange.status}", exchange.body)
    for name in profile.services:
        sinks.add(f"logs/{name}", redaction_stack.logs(name))
    databases = [n for n, s in profile.services.items() if s.kind == "postgres"]
    for name in databases:
        dump = redaction_stack.service(name).exec(["pg_dump", "--no-owner"], timeout_s=120)
        if dump.returncode != 0:
            raise PreconditionError(f"pg_dump of {name} failed: {dump.stderr[-500:]}")
        sinks.add(f"pg_dump/{name}", dump.stdout)
    return sinks
