"""The Scrubber: redaction of whole events, the sentry-sdk hooks, and log records."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from refstack.common.redaction import (
    KnownSecrets,
    RedactingFilter,
    Scrubber,
    install_log_redaction,
    redact_url_credentials,
)
from refstack.common.userhash import UserIdHasher

DSN = "postgres://stack:Zk3pQ9vT2mX7@db:5432/stack"
USER_ID = 123456789012345678
SALT = "test_salt_123"
USER_HASH = "747caa1360c9b247"


@pytest.fixture
def scrubber() -> Scrubber:
    return Scrubber(redact_url_credentials, UserIdHasher(SALT).hash_snowflakes)


def sentry_like_event() -> dict[str, Any]:
    """The places an event carries text, as sentry-sdk builds it before `before_send`."""
    return {
        "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
        "timestamp": "2026-01-01T00:00:00Z",
        "message": f"could not connect to {DSN}",
        "logentry": {"message": "connect %s as %s", "params": [DSN, USER_ID]},
        "exception": {
            "values": [
                {
                    "type": "OperationalError",
                    "value": f"connection to {DSN} refused",
                    "stacktrace": {
                        "frames": [{"function": "connect", "vars": {"url": f"'{DSN}'"}}]
                    },
                }
            ]
        },
        "breadcrumbs": {"values": [{"message": f"GET {DSN}", "data": {"user": str(USER_ID)}}]},
        "extra": {"database_url": DSN, "guild": USER_ID, "retries": 3, "ok": True},
        "contexts": {"settings": {"DATABASE_URL": DSN}},
        "request": {"url": "https://bot/x", "query_string": f"next={DSN}", "data": {"u": DSN}},
        "user": {"id": str(USER_ID)},
        "tags": {f"db {DSN}": "1"},
    }


def test_every_string_of_an_event_is_redacted(scrubber: Scrubber) -> None:
    event = scrubber.structure(sentry_like_event())
    text = repr(event)
    assert "Zk3pQ9vT2mX7" not in text
    assert str(USER_ID) not in text
    assert text.count("REDACTED_PASSWORD") == 10  # every place the DSN was
    assert event["user"] == {"id": USER_HASH}
    assert event["extra"]["guild"] == USER_HASH  # a number becomes its hash
    assert event["extra"]["retries"] == 3
    assert event["extra"]["ok"] is True
    assert event["logentry"]["params"][1] == USER_HASH
    assert "db postgres://REDACTED_USERNAME:REDACTED_PASSWORD@db:5432/stack" in event["tags"]


def test_the_sdks_own_long_numbers_are_left_alone(scrubber: Scrubber) -> None:
    log = {"time_unix_nano": 1767225600123456789, "body": f"user {USER_ID}", "attributes": {}}
    assert scrubber.before_send_log(log, {}) == {
        "time_unix_nano": 1767225600123456789,
        "body": f"user {USER_HASH}",
        "attributes": {},
    }


def test_the_hooks_are_sentry_init_options(scrubber: Scrubber) -> None:
    options = scrubber.sentry_options()
    assert set(options) == {
        "before_send",
        "before_send_transaction",
        "before_breadcrumb",
        "before_send_log",
    }
    crumb = options["before_breadcrumb"]({"message": DSN, "category": "query"}, {})
    assert crumb == {
        "message": "postgres://REDACTED_USERNAME:REDACTED_PASSWORD@db:5432/stack",
        "category": "query",
    }
    transaction = options["before_send_transaction"]({"spans": [{"description": DSN}]}, {})
    assert "Zk3pQ9vT2mX7" not in repr(transaction)


def test_a_hook_that_cannot_redact_drops_instead_of_passing(scrubber: Scrubber) -> None:
    def broken(text: str) -> str:
        raise RuntimeError("boom")

    failing = Scrubber(broken)
    assert failing.before_send(sentry_like_event(), {}) is None
    assert failing.before_breadcrumb({"message": DSN}, {}) is None
    assert failing.before_send_log({"body": DSN}, {}) is None


def test_a_scrubber_needs_a_redactor() -> None:
    with pytest.raises(ValueError, match="at least one redactor"):
        Scrubber()


def test_known_secrets_work_as_a_redactor() -> None:
    scrubber = Scrubber(KnownSecrets(["api-key-canary-0001"]))
    assert scrubber.text("X-API-Key: api-key-canary-0001") == "X-API-Key: [REDACTED]"


# -- logs ------------------------------------------------------------------------------------


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, Capture]]:
    capture = Capture()
    log = logging.getLogger("stackproof-test-redaction")
    log.propagate = False
    log.addHandler(capture)
    log.setLevel(logging.DEBUG)
    yield log, capture
    log.removeHandler(capture)


def _fail_with_dsn() -> None:
    raise ConnectionError(f"cannot reach {DSN} for user {USER_ID}")


def test_the_filter_redacts_messages_arguments_and_tracebacks(
    scrubber: Scrubber, logger: tuple[logging.Logger, Capture]
) -> None:
    log, capture = logger
    capture.addFilter(RedactingFilter(scrubber))
    log.info("connecting to %s for %d", DSN, USER_ID)
    try:
        _fail_with_dsn()
    except ConnectionError:
        log.exception("database down")
    log.warning("stack", stack_info=True, extra={"url": DSN})
    output = "\n".join(capture.lines)
    assert "Zk3pQ9vT2mX7" not in output
    assert str(USER_ID) not in output
    assert (
        f"INFO connecting to postgres://REDACTED_USERNAME:REDACTED_PASSWORD@db:5432/stack for {USER_HASH}"
        in output
    )
    assert "ConnectionError: cannot reach postgres://REDACTED_USERNAME:REDACTED_PASSWORD@" in output
    assert "Traceback (most recent call last)" in output


def test_arguments_that_do_not_fit_the_message_are_dropped_not_leaked(
    scrubber: Scrubber, logger: tuple[logging.Logger, Capture]
) -> None:
    log, capture = logger
    capture.addFilter(RedactingFilter(scrubber))
    log.info("two %s %s", DSN)  # noqa: PLE1206 - the mistake under test
    assert capture.lines == ["INFO two %s %s (log arguments dropped: they do not fit the message)"]


def test_the_record_factory_covers_loggers_with_handlers_of_their_own(
    scrubber: Scrubber, logger: tuple[logging.Logger, Capture]
) -> None:
    log, capture = logger  # a handler without any filter, like uvicorn's
    original = logging.getLogRecordFactory()
    restore = install_log_redaction(scrubber)
    try:
        log.error(
            "guild %s at %s", USER_ID, DSN, exc_info=(ConnectionError, ConnectionError(DSN), None)
        )
    finally:
        restore()
    log.info("after: %s", DSN)
    assert "Zk3pQ9vT2mX7" not in capture.lines[0]
    assert USER_HASH in capture.lines[0]
    assert "Zk3pQ9vT2mX7" in capture.lines[1]  # restored: the factory is gone again
    assert logging.getLogRecordFactory() is original
