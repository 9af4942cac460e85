"""Discord interaction signatures: Ed25519 over timestamp + raw body (R-SIG-1, 2).

Every refusal must be a 401 answer: never a 5xx, never a dropped connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from stackproof.backends import Stack
from stackproof.checks.evidence import Evidence
from stackproof.checks.http import FrontClient, sent_or_cut
from stackproof.checks.problems import Problems
from stackproof.fakes.discord import PING, SIGNATURE_HEADER, TIMESTAMP_HEADER, DiscordSigner
from stackproof.profile import Profile

MAX_AGE_S = 300
MAX_FUTURE_S = 60
MARGIN_S = 15  # past the bound, so a second's rounding or a slow request cannot matter

Sent = tuple[bytes, dict[str, str]]


@pytest.fixture
def interactions_path(profile: Profile) -> str:
    if profile.command is None:
        pytest.skip("the profile names no interactions endpoint ([command] path)")
    return profile.command.path


def ping(discord: DiscordSigner, timestamp: str | None = None) -> Sent:
    body = json.dumps(PING, separators=(",", ":")).encode()
    return body, discord.sign(body, timestamp)


def unsigned_requests(discord: DiscordSigner) -> dict[str, Sent]:
    """Requests Discord did not sign as sent; each must get 401."""
    body, headers = ping(discord)
    signature = headers[SIGNATURE_HEADER]
    other = Ed25519PrivateKey.generate()
    stamp = headers[TIMESTAMP_HEADER]

    def with_signature(value: str | None, stamp: str | None = stamp) -> dict[str, str]:
        changed = {
            k: v for k, v in headers.items() if k not in (SIGNATURE_HEADER, TIMESTAMP_HEADER)
        }
        if value is not None:
            changed[SIGNATURE_HEADER] = value
        if stamp is not None:
            changed[TIMESTAMP_HEADER] = stamp
        return changed

    return {
        "no signature": (body, with_signature(None)),
        "no timestamp": (body, with_signature(signature, None)),
        "an empty signature": (body, with_signature("")),
        "a signature that is not hex": (body, with_signature("zz" * 64)),
        "an odd-length hex signature": (body, with_signature(signature[:-1])),
        "a truncated signature": (body, with_signature(signature[:-2])),
        "a signature too long": (body, with_signature(signature + "00")),
        "a signature of zeros": (body, with_signature("00" * 64)),
        "a signature by another key": (
            body,
            with_signature(other.sign(stamp.encode() + body).hex()),
        ),
        "a tampered body": (body.replace(b"1", b"2"), with_signature(signature)),
        "a timestamp that is not a number": (body, with_signature(signature, "yesterday")),
        "a changed timestamp": (body, with_signature(signature, str(int(stamp) - 1))),
    }


def post(client: FrontClient, path: str, sent: Sent) -> httpx.Response | str:
    """A reset or dropped connection is itself the finding (a front that cannot be reached
    at all is an error, see `sent_or_cut`)."""
    body, headers = sent
    return sent_or_cut(client, "POST", path, headers=headers, content=body)


def expect_401(outcome: httpx.Response | str, label: str, problems: Problems) -> None:
    if isinstance(outcome, str):
        problems.add(label, outcome)
    elif outcome.status_code != 401:
        problems.add(label, f"status {outcome.status_code}, expected 401")


@pytest.mark.requirement("R-SIG-1")
def test_unsigned_and_malformed_interactions_get_401(
    stack: Stack,
    discord: DiscordSigner,
    interactions_path: str,
    front_client: Callable[..., FrontClient],
    evidence: Evidence,
) -> None:
    client = front_client(stack)
    problems = Problems(f"signature checks of {interactions_path}")
    for label, sent in unsigned_requests(discord).items():
        expect_401(post(client, interactions_path, sent), label, problems)
    # And the signed PING is answered: the refusals above are not a refusal of everything.
    answer = post(client, interactions_path, ping(discord))
    if isinstance(answer, str) or answer.status_code != 200:
        seen = answer if isinstance(answer, str) else answer.status_code
        problems.add("a signed PING", f"{seen}, expected 200 {{'type': 1}}")
    elif answer.json() != {"type": 1}:
        problems.add("a signed PING", f"answered {answer.text[:100]!r}, expected {{'type': 1}}")
    evidence.add("cases", sorted(unsigned_requests(discord)))
    problems.raise_if_any()


@pytest.mark.requirement("R-SIG-2")
def test_signature_timestamps_outside_the_window_get_401(
    stack: Stack,
    discord: DiscordSigner,
    interactions_path: str,
    front_client: Callable[..., FrontClient],
) -> None:
    client = front_client(stack)
    problems = Problems(f"signature timestamps at {interactions_path}")
    now = int(time.time())
    for label, stamp in {
        f"signed {MAX_AGE_S + MARGIN_S} s ago": now - MAX_AGE_S - MARGIN_S,
        "signed an hour ago": now - 3600,
        f"signed {MAX_FUTURE_S + MARGIN_S} s in the future": now + MAX_FUTURE_S + MARGIN_S,
        "signed at the epoch": 0,
    }.items():
        expect_401(post(client, interactions_path, ping(discord, str(stamp))), label, problems)
    # Inside the window (with a margin) the same PING is answered.
    for label, stamp in {
        f"signed {MAX_AGE_S - MARGIN_S * 4} s ago": now - MAX_AGE_S + MARGIN_S * 4,
        f"signed {MAX_FUTURE_S - MARGIN_S * 2} s ahead": now + MAX_FUTURE_S - MARGIN_S * 2,
    }.items():
        answer = post(client, interactions_path, ping(discord, str(stamp)))
        seen = answer if isinstance(answer, str) else answer.status_code
        problems.expect(seen == 200, label, f"{seen}, expected 200 inside the window")
    problems.raise_if_any()
