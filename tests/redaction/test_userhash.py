"""User and guild ID hashing (R-RED-2): the vector, the refusal without a salt, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from refstack.common.settings import SettingsError
from refstack.common.userhash import SALT_VARIABLE, UserIdHasher

STACK = Path(__file__).resolve().parents[2] / "stack"
SALT, USER_ID, USER_HASH = "test_salt_123", "123456789012345678", "747caa1360c9b247"


def test_the_catalog_vector() -> None:
    hasher = UserIdHasher(SALT)
    assert hasher.hash(USER_ID) == USER_HASH
    assert hasher.hash(int(USER_ID)) == USER_HASH


def test_the_salt_never_shows() -> None:
    assert SALT not in repr(UserIdHasher(SALT))


@pytest.mark.parametrize("environ", [{}, {SALT_VARIABLE: ""}, {SALT_VARIABLE: "   "}])
def test_no_salt_no_start(environ: dict[str, str]) -> None:
    with pytest.raises(SettingsError, match=f"{SALT_VARIABLE} is not set; the service refuses"):
        UserIdHasher.from_env(environ)


def test_a_short_salt_is_refused_without_showing_it() -> None:
    with pytest.raises(SettingsError, match="too short") as refused:
        UserIdHasher.from_env({SALT_VARIABLE: "abc1234"})
    assert "abc1234" not in str(refused.value)


@pytest.mark.parametrize("not_an_id", ["", "12a", "-1", "1" * 21, "1 2"])
def test_only_discord_ids_are_hashed(not_an_id: str) -> None:
    with pytest.raises(ValueError, match="1 to 20 decimal digits"):
        UserIdHasher(SALT).hash(not_an_id)


def test_raw_ids_in_text_become_their_hashes() -> None:
    hasher = UserIdHasher(SALT)
    text = (
        f"user {USER_ID} in <#{USER_ID}> /guilds/{USER_ID}/members id={USER_ID}, "
        "kept: 1234567890123456 (16 digits) 123456789012345678901 (21) "
        "trace a123456789012345678b 4bf92f3577b34da6a3ce929d0e0e4736"
    )
    assert hasher.hash_snowflakes(text) == (
        f"user {USER_HASH} in <#{USER_HASH}> /guilds/{USER_HASH}/members id={USER_HASH}, "
        "kept: 1234567890123456 (16 digits) 123456789012345678901 (21) "
        "trace a123456789012345678b 4bf92f3577b34da6a3ce929d0e0e4736"
    )


@given(st.integers(min_value=10**16, max_value=10**20 - 1), st.text(min_size=8, max_size=40))
def test_hashes_are_16_hex_digits_and_hashing_text_twice_changes_nothing(
    discord_id: int, salt: str
) -> None:
    if not salt.strip():
        return
    hasher = UserIdHasher(salt)
    digest = hasher.hash(discord_id)
    assert len(digest) == 16
    assert set(digest) <= set("0123456789abcdef")
    once = hasher.hash_snowflakes(f"id {discord_id}.")
    assert once == f"id {digest}."
    assert hasher.hash_snowflakes(once) == once


def _cli(*args: str, salt: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != SALT_VARIABLE}
    if salt is not None:
        env[SALT_VARIABLE] = salt
    return subprocess.run(
        [sys.executable, "-m", "refstack.common.userhash", *args],
        cwd=STACK,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_hash_command_prints_the_hash() -> None:
    done = _cli("hash", USER_ID, salt=SALT)
    assert (done.returncode, done.stdout, done.stderr) == (0, f"{USER_HASH}\n", "")


def test_the_hash_command_without_a_salt_says_what_to_set() -> None:
    done = _cli("hash", USER_ID, salt=None)
    assert done.returncode == 1
    assert done.stdout == ""
    assert f"{SALT_VARIABLE} is not set" in done.stderr


def test_the_hash_command_refuses_what_is_not_an_id() -> None:
    done = _cli("hash", "alice", salt=SALT)
    assert done.returncode == 2
    assert "is not a Discord ID" in done.stderr
    assert SALT not in done.stderr


def test_the_hash_command_needs_its_argument() -> None:
    done = _cli(salt=SALT)
    assert done.returncode == 2
    assert "usage:" in done.stderr
