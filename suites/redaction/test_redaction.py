"""Nothing secret leaks from the stack, also while its dependencies fail (R-RED-1..4).

One stack of its own is driven down its error paths (wrong database password, database
down, cache down, the upstream API answering 500, malformed requests) by a user with fresh
Discord IDs; then its sinks are read: each service's log, every answer, every Sentry
envelope, a pg_dump. The run's report files are scanned at the end of the session (the
plugin fails the run on a canary there).
"""

from __future__ import annotations

import pytest

from stackproof.backends import Stack
from stackproof.checks.errorpaths import ErrorPathDrive
from stackproof.checks.evidence import Evidence
from stackproof.checks.leaks import (
    Sinks,
    event_users,
    redacted_urls,
    run_canaries,
)
from stackproof.checks.needs import nothing_to_check, secret_of
from stackproof.checks.problems import Problems
from stackproof.checks.sinks import SinkScanner
from stackproof.checks.started import require_command_ran
from stackproof.fakes.sentry import SentryFakeClient
from stackproof.profile.model import RedactionSettings
from stackproof.pytest_plugin.session import RunSession

pytestmark = pytest.mark.destructive

# The catalog's vector (R-RED-2).
VECTOR_SALT, VECTOR_ID, VECTOR_HASH = "test_salt_123", "123456789012345678", "747caa1360c9b247"
REFUSAL_WITHIN_S = 60.0


def _hash(stack: Stack, settings: RedactionSettings, salt: str, discord_id: str) -> str:
    if settings.hash_command is None or settings.hash_service is None:
        pytest.skip("the profile names no hash command (redaction.hash_command)")
    done = stack.service(settings.hash_service).exec(
        ["env", f"{settings.salt_variable}={salt}", *settings.hash_command, discord_id]
    )
    if done.returncode != 0:
        pytest.fail(f"the hash command failed ({done.returncode}): {done.stderr[-300:]}")
    return done.stdout.strip()


@pytest.mark.requirement("R-RED-1")
def test_url_credentials_are_redacted_in_events_and_logs(
    emitted: Sinks, sentry_client: SentryFakeClient, evidence: Evidence
) -> None:
    problems = Problems("URL credentials in telemetry")
    scanner = SinkScanner({})  # credential shapes only: a URL with a password anywhere
    for finding in scanner.scan_many(
        (name, data)
        for name, data in emitted.items.items()
        if name.startswith(("logs/", "sentry/"))
    ):
        if finding.label.startswith("url-password"):
            problems.add(finding.sink, finding.describe())
    in_events = redacted_urls(emitted.text("sentry/"))
    in_logs = redacted_urls(emitted.text("logs/"))
    evidence.add("redacted URLs", {"events": sorted(set(in_events)), "logs": sorted(set(in_logs))})
    problems.expect(
        bool(in_events),
        "events",
        "no error event carries a redacted connection string "
        "(REDACTED_USERNAME:REDACTED_PASSWORD): the database failures did not reach Sentry "
        "with their context, or reached it unredacted",
    )
    problems.expect(bool(in_logs), "logs", "no log line carries a redacted connection string")
    problems.raise_if_any()


@pytest.mark.requirement("R-RED-2")
@pytest.mark.needs("salt_secret", "salt_value")
def test_discord_ids_reach_telemetry_only_hashed(
    emitted: Sinks,
    error_paths: ErrorPathDrive,
    redaction_stack: Stack,
    redaction_settings: RedactionSettings,
    sentry_client: SentryFakeClient,
    evidence: Evidence,
) -> None:
    if redaction_settings.salt_secret is None:
        pytest.skip("the profile does not say which secret is the salt (redaction.salt_secret)")
    salt = secret_of(
        redaction_stack,
        redaction_settings.salt_secret,
        what="hash salt",
        purpose="the IDs' hashes cannot be computed to look for",
    )
    user = _hash(redaction_stack, redaction_settings, salt, error_paths.user_id)
    guild = _hash(redaction_stack, redaction_settings, salt, error_paths.guild_id)
    problems = Problems("Discord IDs in telemetry")
    telemetry = {
        name: data.decode("utf-8", "replace")
        for name, data in emitted.items.items()
        if name.startswith(("logs/", "sentry/"))
    }
    for name, text in telemetry.items():
        for label, raw in (("user ID", error_paths.user_id), ("guild ID", error_paths.guild_id)):
            problems.expect(raw not in text, name, f"the raw {label} appears")
    logs = emitted.text("logs/")
    problems.expect(user in logs, "logs", "the user's hash appears in no log line")
    problems.expect(guild in logs, "logs", "the guild's hash appears in no log line")
    users = event_users(sentry_client.events())
    evidence.add("event users", {"hash": user, "users": sorted(set(users))})
    problems.expect(user in users, "events", f"no error event names the user as {user}")
    problems.raise_if_any()


@pytest.mark.requirement("R-RED-2")
@pytest.mark.needs("hash_command")
def test_hash_command_gives_the_vector(
    redaction_stack: Stack, redaction_settings: RedactionSettings, evidence: Evidence
) -> None:
    printed = _hash(redaction_stack, redaction_settings, VECTOR_SALT, VECTOR_ID)
    evidence.add("hash command", {"salt": VECTOR_SALT, "id": VECTOR_ID, "printed": printed})
    assert printed == VECTOR_HASH


@pytest.mark.requirement("R-RED-2")
@pytest.mark.needs("control")
def test_services_refuse_to_start_without_the_salt(
    redaction_stack: Stack,
    redaction_settings: RedactionSettings,
    run_session: RunSession,
    evidence: Evidence,
) -> None:
    scanner = SinkScanner(run_canaries(run_session.run.secrets))
    problems = Problems(f"starting without {redaction_settings.salt_variable}")
    for name in redaction_settings.services:
        service = redaction_stack.service(name)
        service.stop()
        try:
            code, output = service.run_once(
                without_env=[redaction_settings.salt_variable], timeout_s=REFUSAL_WITHIN_S
            )
        finally:
            service.start(wait=True)
        evidence.add(f"{name} without the salt", {"exit_code": code, "said": output[-400:]})
        require_command_ran(code, output, f"{name} without the salt")
        if code is None:
            problems.add(name, f"still running after {REFUSAL_WITHIN_S:.0f} s without the salt")
        elif code == 0:
            problems.add(name, "exited 0 without the salt")
        problems.expect(
            redaction_settings.salt_variable in output,
            name,
            f"its output does not name {redaction_settings.salt_variable}",
        )
        for finding in scanner.scan(output, f"{name} start-up output"):
            problems.add(name, finding.describe())
    problems.raise_if_any()


@pytest.mark.requirement("R-RED-3")
def test_no_canary_reaches_any_sink(
    emitted: Sinks,
    error_paths: ErrorPathDrive,
    sentry_client: SentryFakeClient,
    run_session: RunSession,
    evidence: Evidence,
) -> None:
    canaries = run_canaries(run_session.run.secrets)
    findings = emitted.scan(SinkScanner(canaries))
    evidence.add(
        "scanned",
        {
            "steps": error_paths.steps,
            "canaries": sorted({c.label for c in canaries}),
            "sinks": len(emitted.items),
            "bytes": sum(len(d) for d in emitted.items.values()),
            "sentry": sentry_client.counts(),
            "answers": len(error_paths.exchanges),
            "findings": [f.to_json() for f in findings],
        },
    )
    problems = Problems("secrets in the stack's sinks")
    for finding in findings:
        problems.add(finding.sink, finding.describe())
    problems.raise_if_any()


@pytest.mark.requirement("R-RED-4")
def test_error_answers_are_generic_with_a_request_id(
    error_paths: ErrorPathDrive, evidence: Evidence
) -> None:
    answers = error_paths.error_answers()
    evidence.add(
        "error answers",
        [{"request": a.request, "status": a.status, "body": a.body[:200]} for a in answers],
    )
    if not answers:
        nothing_to_check(
            "the drive received no error answer from the services under redaction",
            enable="redaction.services that answer through the front",
        )
    problems = Problems("error answers")
    for answer in answers:
        for problem in answer.problems():
            problems.add(answer.request, problem)
    problems.raise_if_any()
    if not any(a.status >= 500 for a in answers):
        # The faults of the drive did not make a service answer 5xx: only its 4xx were seen.
        nothing_to_check(
            f"the {len(answers)} 4xx answers were generic, but no fault of the drive made a "
            "service answer 5xx, so no 5xx answer could be judged",
            enable="redaction.services whose routes need a hard dependency, or redaction.upstream",
        )
