"""OAuth linking: the context token, the state, one Discord user per AniList account, and
tokens encrypted at rest (R-OAUTH-1, 2, 3)."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from stackproof.backends import Capability, Stack
from stackproof.checks.evidence import Evidence
from stackproof.checks.http import FrontClient
from stackproof.checks.needs import require, secret_of
from stackproof.checks.oauth import LinkFlow, context_token, query_of, run_sql
from stackproof.checks.problems import Problems
from stackproof.checks.sinks import SinkScanner
from stackproof.fakes.discord import Snowflakes
from stackproof.profile.auth import OAuthSettings

MAX_LIFETIME_S = 300
users = Snowflakes(worker=7)


def login() -> str:
    """An AniList account no other test links."""
    return f"stackproof-{secrets.token_hex(4)}"


def status(response: httpx.Response) -> str:
    return f"{response.status_code} {response.text[:120]!r}"


@pytest.mark.requirement("R-OAUTH-1")
def test_context_tokens_failing_a_check_get_400(link_flow: LinkFlow, evidence: Evidence) -> None:
    user = users.next()
    now = int(time.time())
    key = link_flow.context_key
    payload = link_flow.token(user).partition(".")[0]
    refused = {
        "a wrong MAC (another key)": context_token("not-the-key-" + key, user, now, now + 120),
        "a MAC of another token": f"{payload}.{link_flow.token(users.next()).partition('.')[2]}",
        "no MAC": payload,
        "a MAC that is not base64url": f"{payload}.!!!",
        "expired": context_token(key, user, now - 200, now - 20),
        "issued in the future": context_token(key, user, now + 120, now + 240),
        f"living longer than {MAX_LIFETIME_S} s": context_token(key, user, now, now + 3600),
        f"living {MAX_LIFETIME_S + 30} s": context_token(
            key, user, now - 10, now + MAX_LIFETIME_S + 20
        ),
        "expiring before it was issued": context_token(key, user, now, now - 1),
        "not a token": "hello",
        "empty": "",
    }
    problems = Problems("context tokens at the start of a link")
    for label, token in refused.items():
        response = link_flow.start(token)
        problems.expect(response.status_code == 400, label, f"{status(response)}, expected 400")
    accepted = link_flow.start(link_flow.token(user, lifetime_s=MAX_LIFETIME_S - 30))
    problems.expect(
        accepted.status_code in (302, 303)
        and "state" in query_of(accepted.headers.get("location", "")),
        "a valid token",
        f"{status(accepted)}, expected a redirect carrying a state",
    )
    evidence.add("refused tokens", sorted(refused))
    problems.raise_if_any()


@pytest.mark.requirement("R-OAUTH-2")
def test_a_state_is_single_use(link_flow: LinkFlow, evidence: Evidence) -> None:
    authorize = link_flow.begin(users.next())
    account = login()
    first = link_flow.callback(link_flow.authorize(authorize, account))
    problems = Problems("a replayed state")
    problems.expect(
        first.status_code == 200, "the first callback", f"{status(first)}, expected 200"
    )
    # The replay brings a new, valid code (the provider approves again): only the state is stale.
    replay = link_flow.callback(link_flow.authorize(authorize, account))
    problems.expect(replay.status_code == 400, "the replay", f"{status(replay)}, expected 400")
    evidence.add("statuses", {"first": first.status_code, "replay": replay.status_code})
    problems.raise_if_any()


@pytest.mark.requirement("R-OAUTH-2")
def test_two_concurrent_callbacks_with_one_state_give_one_success(
    stack: Stack,
    link_flow: LinkFlow,
    client_of: Callable[[Stack], FrontClient],
    evidence: Evidence,
) -> None:
    authorize = link_flow.begin(users.next())
    rounds = 3  # a race may be won by luck once; three rounds, three states
    problems = Problems("concurrent callbacks with one state")
    seen = []
    for number in range(rounds):
        if number:
            authorize = link_flow.begin(users.next())
        account = login()  # both approve as one account: a second link would be a 409
        callbacks = [link_flow.authorize(authorize, account) for _ in range(2)]
        browsers = [client_of(stack) for _ in callbacks]
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(link_flow.callback, callbacks, browsers))
        statuses = sorted(a.status_code for a in answers)
        seen.append(statuses)
        problems.expect(
            statuses == [200, 400],
            f"round {number + 1}",
            f"statuses {statuses}, expected exactly one 200 and one 400",
        )
    evidence.add("statuses per round", seen)
    problems.raise_if_any()


@pytest.mark.requirement("R-OAUTH-2")
@pytest.mark.needs("control")
def test_a_state_expires_within_300_s(
    stack: Stack, link_flow: LinkFlow, oauth: OAuthSettings, evidence: Evidence
) -> None:
    require(stack, Capability.CONTROL)
    problems = Problems("state expiry")
    authorize = link_flow.begin(users.next())
    state = query_of(authorize)["state"]
    rows = run_sql(stack, oauth.database, oauth.state_lifetime_sql, {"state": state})
    lifetime = float(str(rows[0][0])) if rows else None
    if lifetime is None:
        problems.add("a new state", "the profile's state_lifetime_sql found no row for it")
    else:
        evidence.figure(
            "state_lifetime_s", lifetime, "s", objective=MAX_LIFETIME_S, comparison="<="
        )
        problems.expect(
            0 < lifetime <= MAX_LIFETIME_S,
            "a new state",
            f"expires in {lifetime:.0f} s, expected at most {MAX_LIFETIME_S} s",
        )
    # A state that expired a second ago, planted as the profile says, with a valid fresh code.
    stale = secrets.token_urlsafe(32)
    run_sql(stack, oauth.database, oauth.expired_state_sql, {"state": stale, "user": users.next()})
    answer = link_flow.callback(link_flow.authorize(authorize, login(), state=stale))
    problems.expect(answer.status_code == 400, "a stale state", f"{status(answer)}, expected 400")
    problems.raise_if_any()


@pytest.mark.requirement("R-OAUTH-3")
def test_an_anilist_account_links_to_one_discord_user(
    link_flow: LinkFlow, evidence: Evidence
) -> None:
    account = login()
    first, second = users.next(), users.next()
    problems = Problems(f"AniList account {account} linked twice")
    linked = link_flow.link(first, account)
    problems.expect(linked.status_code == 200, "the first link", f"{status(linked)}, expected 200")
    again = link_flow.link(second, account)
    problems.expect(
        400 <= again.status_code < 500,
        "a second Discord user",
        f"{status(again)}, expected a refusal (409)",
    )
    relink = link_flow.link(first, account)
    problems.expect(
        relink.status_code == 200, "the same user again", f"{status(relink)}, expected 200"
    )
    evidence.add("statuses", [linked.status_code, again.status_code, relink.status_code])
    problems.raise_if_any()


@pytest.mark.requirement("R-OAUTH-3")
@pytest.mark.needs("control", "token_canary_value")
def test_no_plaintext_token_in_a_database_dump(
    stack: Stack, link_flow: LinkFlow, oauth: OAuthSettings, evidence: Evidence
) -> None:
    """Given a link made (the provider issued a token carrying the run's token canary), a
    `pg_dump` of the database must not carry the token: as text, hex (bytea) or base64."""
    require(stack, Capability.CONTROL)
    account = login()
    linked = link_flow.link(users.next(), account)
    assert linked.status_code == 200, f"linking failed: {status(linked)}"
    dump = stack.service(oauth.database).exec(["pg_dump", "--data-only", "--no-owner"])
    assert dump.returncode == 0, f"pg_dump failed: {dump.stderr[-300:]}"
    # The dump must hold the link at all, or finding no token in it proves nothing.
    assert account in dump.stdout, "the dump does not hold the new link (wrong database?)"
    canary = secret_of(
        stack,
        oauth.token_canary_secret,
        what="token canary",
        purpose="a token in the dump cannot be recognised",
    )
    findings = SinkScanner({"OAuth access token": canary}, patterns=()).scan(dump.stdout, "pg_dump")
    evidence.figure("dump_bytes", len(dump.stdout), "bytes")
    evidence.add("findings", [f.describe() for f in findings])
    assert not findings, "tokens in plaintext at rest: " + "; ".join(f.describe() for f in findings)
