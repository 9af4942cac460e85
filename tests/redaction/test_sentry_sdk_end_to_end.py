"""The real sentry-sdk sending to the Sentry fake: what arrives, and that with the redaction
hooks no planted credential or raw Discord ID does (R-RED-1, R-RED-2)."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from refstack.common.userhash import UserIdHasher

from stackproof.checks.sinks import SinkScanner
from stackproof.fakes.sentry import SentryFake

ROOT = Path(__file__).resolve().parents[2]
CLIENT = Path(__file__).with_name("sentry_client.py")
SALT = "end-to-end-salt-0001"


@pytest.fixture
def sentry() -> Iterator[SentryFake]:
    with SentryFake() as fake:
        yield fake


def planted() -> dict[str, str]:
    # A password with reserved characters, percent-encoded in the URL as it must be.
    return {
        "database.password": f"p@ss/w:rd?{secrets.token_urlsafe(12)}",
        "discord.user_id": str(10**17 + secrets.randbelow(9 * 10**17)),
    }


def send(sentry: SentryFake, canaries: dict[str, str], hooks: str) -> None:
    password = quote(canaries["database.password"], safe="")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "stack"), str(ROOT / "src")]),
        "PLANTED_DATABASE_URL": f"postgres://stack:{password}@127.0.0.1:5432/stack",
        "PLANTED_USER_ID": canaries["discord.user_id"],
        "USERID_HASH_SALT": SALT,
    }
    done = subprocess.run(
        [sys.executable, str(CLIENT), sentry.dsn, hooks],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == "sent\n"
    # Events and the transaction; the log record is batched, and flushed at the end.
    sentry.wait_for("event", 3, timeout_s=30)
    sentry.wait_for("transaction", timeout_s=30)
    sentry.wait_for("log", timeout_s=30)


def test_what_the_real_sdk_sends_arrives_whole(sentry: SentryFake) -> None:
    canaries = planted()
    send(sentry, canaries, hooks="on")
    assert all(r.content_encoding == "gzip" for r in sentry.received())  # as the SDK sends
    assert all(r.auth.public_key == sentry.public_key for r in sentry.received())
    user_hash = UserIdHasher(SALT).hash(canaries["discord.user_id"])
    messages = {
        e.get("message") or (e.get("logentry") or {}).get("message") for e in sentry.events()
    }
    assert messages == {
        "slow query on postgres://REDACTED_USERNAME:REDACTED_PASSWORD@127.0.0.1:5432/stack",
        None,  # the captured exception
        "database down: postgres://REDACTED_USERNAME:REDACTED_PASSWORD@127.0.0.1:5432/stack "
        f"(user {user_hash})",
    }
    exception_values = [
        v["value"] for e in sentry.events() for v in e.get("exception", {}).get("values", [])
    ]
    assert (
        exception_values
        == [
            "could not connect to server: "
            "postgres://REDACTED_USERNAME:REDACTED_PASSWORD@127.0.0.1:5432/stack"
        ]
        * 2
    )
    crumbs = [c.get("message") for c in sentry.breadcrumbs()]
    assert "pool for postgres://REDACTED_USERNAME:REDACTED_PASSWORD@127.0.0.1:5432/stack" in crumbs
    assert {e["user"]["id"] for e in sentry.events()} == {user_hash}
    assert any(user_hash in record["body"] for record in sentry.logs())
    (transaction,) = sentry.transactions()
    assert transaction["transaction"] == "startup"


def test_with_the_hooks_no_planted_secret_reaches_sentry(sentry: SentryFake) -> None:
    canaries = planted()
    send(sentry, canaries, hooks="on")
    findings = SinkScanner(canaries).scan_many(
        (f"sentry envelope {n}", body) for n, body in enumerate(sentry.bodies(), 1)
    )
    assert findings == [], "\n".join(f.describe() for f in findings)


def test_without_the_hooks_the_same_scan_finds_them(sentry: SentryFake) -> None:
    # The check above can fail: the same client without the hooks leaks, and the scan says so.
    canaries = planted()
    send(sentry, canaries, hooks="off")
    findings = SinkScanner(canaries).scan_many(
        (f"sentry envelope {n}", body) for n, body in enumerate(sentry.bodies(), 1)
    )
    assert {f.label for f in findings} >= {"database.password", "discord.user_id", "url-password"}
    assert all(value not in f.describe() for f in findings for value in canaries.values())
