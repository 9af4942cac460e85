"""The reference services themselves: behaviour the suites of this version do not cover yet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import REFERENCE

from stackproof.backends.process import ProcessBackend, ProcessStack
from stackproof.checks.http import FrontClient
from stackproof.profile import load_profile
from stackproof.run import RunContext

pytestmark = pytest.mark.stack


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessStack]:
    profile = load_profile(REFERENCE)
    backend = ProcessBackend()
    backend.check(profile)
    run = RunContext("services", tmp_path_factory.mktemp("reports") / "services")
    with backend.up(profile, run, "main") as stack:
        yield stack


@pytest.fixture
def front(reference: ProcessStack) -> Iterator[FrontClient]:
    with FrontClient(reference.public) as client:
        yield client


def test_a_signed_ping_gets_a_pong(reference: ProcessStack, front: FrontClient) -> None:
    body, headers = reference.discord.signed({"type": 1})
    response = front.https("POST", "/bot/interactions", headers=headers, content=body)
    assert response.status_code == 200
    assert response.json() == {"type": 1}


@pytest.mark.parametrize(
    "tamper",
    ["no signature", "bad signature", "tampered body", "truncated signature", "old timestamp"],
)
def test_a_badly_signed_ping_is_refused_with_401(
    reference: ProcessStack, front: FrontClient, tamper: str
) -> None:
    body, headers = reference.discord.signed({"type": 1})
    if tamper == "no signature":
        del headers["X-Signature-Ed25519"]
    elif tamper == "bad signature":
        headers["X-Signature-Ed25519"] = "00" * 64
    elif tamper == "tampered body":
        body = body.replace(b"1", b"2")
    elif tamper == "truncated signature":
        headers["X-Signature-Ed25519"] = headers["X-Signature-Ed25519"][:64]
    else:
        headers = reference.discord.sign(body, timestamp="1000000000")
    response = front.https("POST", "/bot/interactions", headers=headers, content=body)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid request signature"
    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_migrations_live_in_each_service_schema(reference: ProcessStack) -> None:
    done = reference.service("postgres").exec(
        ["psql", "-At", "-c", "SELECT table_schema || '.' || table_name FROM information_schema.tables "
         "WHERE table_schema IN ('auth', 'bot') ORDER BY 1"]
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [
        "auth.oauth_credentials", "auth.oauth_state", "auth.schema_migrations",
        "bot.drill_canary", "bot.guild_settings", "bot.schema_migrations", "bot.usage",
    ]  # fmt: skip


def test_logs_are_kept_with_the_run(reference: ProcessStack) -> None:
    logs = Path(reference.run.run_dir) / "logs"
    assert (logs / "postgres.log").exists()
    assert "request_id=" in reference.logs("bot")
