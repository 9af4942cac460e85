"""What a reference service sends to Sentry, with the real sentry-sdk (run by the tests).

    python sentry_client.py <dsn> <hooks: on|off>

The secrets to plant come from the environment: PLANTED_DATABASE_URL (a URL with a password),
PLANTED_USER_ID (a raw Discord ID), USERID_HASH_SALT. Sends a message, a captured exception
(with the URL in a local variable), a logged exception, breadcrumbs, a log record and a
transaction, then flushes and prints `sent`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import sentry_sdk
from refstack.common.redaction import Scrubber, install_log_redaction, redact_url_credentials
from refstack.common.userhash import UserIdHasher


def connect(url: str) -> None:
    raise ConnectionError(f"could not connect to server: {url}")


def main() -> int:
    dsn, hooks = sys.argv[1], sys.argv[2] == "on"
    database_url = os.environ["PLANTED_DATABASE_URL"]
    user_id = int(os.environ["PLANTED_USER_ID"])
    options: dict[str, Any] = {}
    if hooks:
        scrubber = Scrubber(redact_url_credentials, UserIdHasher.from_env().hash_snowflakes)
        options = scrubber.sentry_options()
        install_log_redaction(scrubber)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    sentry_sdk.init(
        dsn=dsn,
        enable_logs=True,
        send_default_pii=False,
        traces_sample_rate=1.0,
        **options,
    )
    log = logging.getLogger("service")
    sentry_sdk.set_user({"id": user_id})
    sentry_sdk.set_tag("guild", str(user_id))
    sentry_sdk.set_context("settings", {"DATABASE_URL": database_url})
    sentry_sdk.add_breadcrumb(
        category="db", message=f"pool for {database_url}", data={"url": database_url}
    )
    log.info("connecting to %s for user %s", database_url, user_id)
    sentry_sdk.capture_message(f"slow query on {database_url}")
    try:
        connect(database_url)
    except ConnectionError:
        sentry_sdk.capture_exception()
    try:
        connect(database_url)
    except ConnectionError:
        log.exception("database down: %s (user %s)", database_url, user_id)
    with (
        sentry_sdk.start_transaction(name="startup"),
        sentry_sdk.start_span(op="db.connect", name=f"connect {database_url}"),
    ):
        pass
    sentry_sdk.flush(timeout=20)
    print("sent", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
