"""Profiles are checked before anything starts, and every error names the key and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import NOTES_EXAMPLE, REFERENCE, reference_variant

from stackproof.backends.process import ProcessBackend
from stackproof.errors import MissingBinaryError, ProfileError
from stackproof.profile import load_profile


def test_the_shipped_profiles_are_valid() -> None:
    for path in (REFERENCE, NOTES_EXAMPLE):
        profile = load_profile(path)
        ProcessBackend().check(profile)
    reference = load_profile(REFERENCE)
    assert reference.start_order() == [
        ["anilist", "postgres", "redis", "sentry"],
        ["auth", "bot"],
        ["nginx"],
    ]
    assert reference.policy.tls.min_days_valid == 14
    assert reference.policy.limits.max_body_bytes == 1_048_576
    assert reference.policy.headers.hsts_min_age == 63_072_000


@pytest.mark.parametrize(
    ("replacements", "expected"),
    [
        pytest.param(
            {"command = [": "comand = ["},
            "services.auth.process.comand: unknown key",
            id="misspelt-key",
        ),
        pytest.param(
            {'kind = "redis"': 'kind = "memcached"'}, "services.redis.kind", id="unknown-kind"
        ),
        pytest.param(
            {'links = ["auth", "bot"]': 'links = ["auth", "bots"]'},
            "services.nginx.links: no service named 'bots'",
            id="unknown-link",
        ),
        pytest.param(
            {'hard_dependencies = ["postgres"]': 'hard_dependencies = ["nginx"]'},
            "health dependency 'nginx' is not one of this service's links",
            id="dependency-not-linked",
        ),
        pytest.param(
            {"min_days_valid = 14": "min_days_valid = -1"},
            "policy.tls.min_days_valid",
            id="negative-policy",
        ),
        pytest.param(
            {'path = "/"\n': 'path = "no-slash"\n'}, "probes.home.path", id="relative-path"
        ),
        pytest.param(
            {
                'name = "reference"': 'name = "reference"\n[[waivers]]\nid = "R-TLS-99"\nreason = "because it is late"\nexpires = 2026-12-31'
            },
            "not a requirement ID",
            id="unknown-waiver",
        ),
        pytest.param(
            {'sentry = "sentry"': 'sentry = "sentri"'},
            "redaction.sentry: no service named 'sentri'",
            id="redaction-unknown-sentry",
        ),
        pytest.param(
            {'salt_secret = "userid_hash_salt"': 'salt_secret = "salt"'},
            "redaction.salt_secret: 'salt' is not one of secrets",
            id="redaction-unknown-salt-secret",
        ),
    ],
)
def test_invalid_profiles_name_the_key(
    tmp_path: Path, replacements: dict[str, str], expected: str
) -> None:
    with pytest.raises(ProfileError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        load_profile(reference_variant(tmp_path, replacements))


def test_a_link_cycle_is_refused(tmp_path: Path) -> None:
    path = reference_variant(
        tmp_path,
        {'[services.redis]\nkind = "redis"': '[services.redis]\nkind = "redis"\nlinks = ["bot"]'},
    )
    with pytest.raises(ProfileError, match="form a cycle"):
        load_profile(path)


def test_invalid_toml_says_where(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('name = "x"\n[stack\n', "utf-8")
    with pytest.raises(ProfileError, match=r"broken.toml: not valid TOML: .*line 2"):
        load_profile(path)


def test_a_placeholder_typo_is_caught_before_anything_starts(tmp_path: Path) -> None:
    path = reference_variant(
        tmp_path,
        {
            'DISCORD_PUBLIC_KEY = "{{ discord.public_key }}"': 'DISCORD_PUBLIC_KEY = "{{ discord.publickey }}"'
        },
    )
    with pytest.raises(
        ProfileError,
        match=r"services.bot.process.env.DISCORD_PUBLIC_KEY: unknown placeholder .*known there: public_key",
    ):
        ProcessBackend().check(load_profile(path))


def test_a_missing_binary_names_itself_and_the_fix(tmp_path: Path) -> None:
    path = reference_variant(
        tmp_path,
        {
            'config = "nginx/nginx.conf.template"': 'config = "nginx/nginx.conf.template"\nbinary = "/nonexistent/nginx"'
        },
    )
    with pytest.raises(MissingBinaryError, match=r"/nonexistent/nginx .*is not executable"):
        ProcessBackend().check(load_profile(path))


def test_overlays_merge_table_by_table() -> None:
    profile = load_profile(REFERENCE, {"policy": {"tls": {"min_days_valid": 30}}})
    assert profile.policy.tls.min_days_valid == 30
    assert profile.policy.tls.mozilla_profile == "intermediate"
