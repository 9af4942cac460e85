"""The auth parts on their own: the context token, the rate limit window, the token cipher,
the AniList fake's OAuth wire format, and the profile's [auth] section."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from refstack.auth.context import ContextError, read_context
from refstack.auth.ratelimit import SlidingWindow, TrustedProxies, client_address
from refstack.auth.tokens import TokenCipher
from support import REFERENCE

from stackproof.checks.oauth import context_token
from stackproof.errors import ProfileError
from stackproof.fakes.anilist import AniListFake, anilist_routes
from stackproof.fakes.anilist_oauth import AniListOAuth, account_for
from stackproof.fakes.httpfake import FakeServer
from stackproof.profile import load_profile

KEY = "context-key-for-tests"
NOW = 1_800_000_000


def test_a_context_token_made_by_the_harness_reads_back() -> None:
    token = context_token(KEY, "80351110224678912", NOW - 10, NOW + 100)
    assert read_context(token, KEY.encode(), now=NOW) == "80351110224678912"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (context_token("another-key", "1", NOW, NOW + 60), "bad MAC"),
        (context_token(KEY, "1", NOW - 100, NOW - 1), "expired"),
        (context_token(KEY, "1", NOW + 60, NOW + 120), "issued in the future"),
        (context_token(KEY, "1", NOW, NOW + 301), "lifetime too long"),
        (context_token(KEY, "not-a-number", NOW, NOW + 60), "no Discord user"),
        ("no-dot", "malformed token"),
        ("a.b.c", "malformed token"),
        ("", "malformed token"),
    ],
)
def test_context_tokens_failing_a_check_are_refused(token: str, reason: str) -> None:
    with pytest.raises(ContextError, match=reason):
        read_context(token, KEY.encode(), now=NOW)


def test_the_window_refuses_the_request_past_the_limit_until_a_slot_frees() -> None:
    window = SlidingWindow(limit=3, window_s=60)
    assert [window.take("a", t) for t in (0, 1, 2)] == [None, None, None]
    assert window.take("a", 3) == pytest.approx(57)
    assert window.take("b", 3) is None  # another client has its own count
    assert window.take("a", 60) is None  # the first request left the window


def _scope(peer: str, real_ip: str | None) -> dict[str, object]:
    headers = [(b"x-real-ip", real_ip.encode())] if real_ip else []
    return {"client": (peer, 1234), "headers": headers}


def test_x_real_ip_is_believed_only_from_the_proxy() -> None:
    assert client_address(_scope("127.0.0.1", "203.0.113.9")) == "203.0.113.9"
    assert client_address(_scope("198.51.100.7", "203.0.113.9")) == "198.51.100.7"
    assert client_address(_scope("127.0.0.1", None)) == "127.0.0.1"


def test_sealed_tokens_open_and_hold_no_plaintext() -> None:
    cipher = TokenCipher("encryption-secret")
    sealed = cipher.seal("plain-token-value")
    assert b"plain-token-value" not in sealed
    assert sealed != cipher.seal("plain-token-value")  # a fresh nonce each time
    assert cipher.open(sealed) == "plain-token-value"


@pytest.fixture
def provider() -> Iterator[tuple[str, AniListOAuth]]:
    oauth = AniListOAuth("client-1", "client-secret-1", "canary-prefix-123456")
    with FakeServer(anilist_routes(AniListFake(oauth=oauth))) as server:
        yield server.url, oauth


def test_the_fake_runs_anilists_authorization_code_grant(
    provider: tuple[str, AniListOAuth],
) -> None:
    url, _ = provider
    redirect = "https://app.example/callback"
    with httpx.Client(base_url=url, trust_env=False) as http:
        approved = http.get(
            "/api/v2/oauth/authorize",
            params={"client_id": "client-1", "redirect_uri": redirect,
                    "response_type": "code", "state": "s1", "login": "alice"},
        )  # fmt: skip
        assert approved.status_code == 302
        back = parse_qs(urlsplit(approved.headers["location"]).query)
        assert back["state"] == ["s1"]
        grant = {"grant_type": "authorization_code", "client_id": "client-1",
                 "client_secret": "client-secret-1", "redirect_uri": redirect,
                 "code": back["code"][0]}  # fmt: skip
        issued = http.post("/api/v2/oauth/token", json=grant)
        assert issued.status_code == 200
        body = issued.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 31_536_000
        assert body["access_token"].startswith("canary-prefix-123456")
        again = http.post("/api/v2/oauth/token", json=grant)
        assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
        viewer = http.post(
            "/",
            json={"query": "query { Viewer { id name } }"},
            headers={"Authorization": f"Bearer {body['access_token']}"},
        )
        assert viewer.json() == {
            "data": {"Viewer": {"id": account_for("alice").id, "name": "alice"}}
        }
        anonymous = http.post("/", json={"query": "query { Viewer { id } }"})
        assert anonymous.status_code == 400
        assert json.loads(anonymous.text)["errors"][0]["message"] == "Invalid token."


def test_the_token_endpoint_refuses_a_wrong_client_secret(
    provider: tuple[str, AniListOAuth],
) -> None:
    url, _ = provider
    with httpx.Client(base_url=url, trust_env=False) as http:
        answer = http.post(
            "/api/v2/oauth/token",
            data={"grant_type": "authorization_code", "client_id": "client-1",
                  "client_secret": "wrong", "redirect_uri": "x", "code": "y"},
        )  # fmt: skip
    assert (answer.status_code, answer.json()["error"]) == (401, "invalid_client")


@pytest.mark.parametrize(
    ("overlay", "expected"),
    [
        ({"auth": {"api_key_secret": "nope"}}, "auth.api_key_secret: 'nope' is not one of secrets"),
        ({"auth": {"service": "nope"}}, "auth.service: no service named 'nope'"),
        (
            {"auth": {"oauth": {"database": "redis"}}},
            "auth.oauth.database: 'redis' is not a postgres",
        ),
        ({"auth": {"rate_limited_path": "auth/"}}, "must start with '/'"),
    ],
)
def test_the_auth_section_names_only_what_the_profile_has(
    overlay: dict[str, object], expected: str
) -> None:
    with pytest.raises(ProfileError, match=re.escape(expected)):
        load_profile(REFERENCE, overlay)


def test_trusted_proxies_come_from_the_environment_by_address_network_and_name() -> None:
    # Loopback by default (the process backend's nginx), unchanged.
    assert client_address(_scope("127.0.0.1", "203.0.113.9"), TrustedProxies.from_env()) == (
        "203.0.113.9"
    )
    # In containers: the front's network, or its name (resolved when such a peer arrives).
    trusted = TrustedProxies(["172.18.0.0/16", "localhost"])
    assert client_address(_scope("172.18.0.5", "203.0.113.9"), trusted) == "203.0.113.9"
    assert client_address(_scope("127.0.0.1", "203.0.113.9"), trusted) == "203.0.113.9"
    assert client_address(_scope("10.1.2.3", "203.0.113.9"), trusted) == "10.1.2.3"
    assert not TrustedProxies(["no-such-host.invalid"]).trusts("10.1.2.3")
