"""What a service emits, redacted: sentry-sdk with the hooks, every log record, hashed IDs.

`start_telemetry` runs first in every reference service (R-RED-1, R-RED-2):

- user and guild IDs become `hex(blake3(salt + id))[:16]` wherever they appear; without
  `USERID_HASH_SALT` the service refuses to start (SettingsError, no value in the message);
- credentials in URLs become `REDACTED_USERNAME:REDACTED_PASSWORD`, and the exact secrets the
  service holds (its database and cache passwords, tokens) become `[REDACTED]`;
- both apply to every log record as it is made and to every Sentry event, breadcrumb and
  log before it leaves (`before_send` and friends); with no `SENTRY_DSN` nothing is sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sentry_sdk

from refstack.common.redaction import (
    KnownSecrets,
    Scrubber,
    install_log_redaction,
    redact_url_credentials,
)
from refstack.common.settings import optional
from refstack.common.userhash import UserIdHasher


def start_telemetry(
    service: str, *, secrets: Mapping[str, str | None], connections: Mapping[str, str | None]
) -> Scrubber:
    """Redact this service's telemetry; `secrets` and the passwords of `connections` (its
    dependencies' URLs, by name) are its own. Every event names the connections, redacted,
    so an operator sees which database or cache a failure was about."""
    hasher = UserIdHasher.from_env()  # refuses to start without the salt
    urls = [url for url in connections.values() if url]
    known = KnownSecrets.from_settings(secrets, urls=urls)
    scrubber = Scrubber(redact_url_credentials, known, hasher.hash_snowflakes)
    install_log_redaction(scrubber)
    hooks: dict[str, Any] = scrubber.sentry_options()  # sentry-sdk types its events loosely
    sentry_sdk.init(
        dsn=optional("SENTRY_DSN"),
        send_default_pii=False,
        server_name=service,
        max_request_body_size="never",  # interaction bodies carry tokens and raw IDs
        **hooks,
    )
    sentry_sdk.set_context("connections", {k: v for k, v in connections.items() if v})
    return scrubber
