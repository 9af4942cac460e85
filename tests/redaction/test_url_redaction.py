"""URL credential redaction: the R-RED-1 vectors and the cases the module documents."""

from __future__ import annotations

import pytest
from refstack.common.redaction import KnownSecrets, redact_url_credentials, url_passwords


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "postgres://user:pass@host/db",
            "postgres://REDACTED_USERNAME:REDACTED_PASSWORD@host/db",
        ),
        ("redis://:pass@host:6379", "redis://:REDACTED_PASSWORD@host:6379"),
        ("https://host/path", "https://host/path"),
        ("postgres://host:5432/db", "postgres://host:5432/db"),
    ],
    ids=["postgres", "redis-password-only", "no-credentials", "no-credentials-port"],
)
def test_the_catalog_vectors(text: str, expected: str) -> None:
    assert redact_url_credentials(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # percent-encoded credentials, and reserved characters in them
        (
            "postgres://us%40er:p%2Fa%3As%23s@db.internal:5432/app",
            "postgres://REDACTED_USERNAME:REDACTED_PASSWORD@db.internal:5432/app",
        ),
        # raw @ and : inside the password (the last @ of the authority ends it)
        (
            "postgres://u:p@ss:w@rd@host/db",
            "postgres://REDACTED_USERNAME:REDACTED_PASSWORD@host/db",
        ),
        # raw / ? # [ ] inside the password (invalid, but written)
        (
            "postgres://u:pa/ss?w#o[r]d@host/db",
            "postgres://REDACTED_USERNAME:REDACTED_PASSWORD@host/db",
        ),
        ("redis://:1234/5678@host:6379/0", "redis://:REDACTED_PASSWORD@host:6379/0"),
        # a username alone is a credential (a token in a Git URL, a Sentry DSN key)
        ("https://ghp_token@github.com/o/r.git", "https://REDACTED_USERNAME@github.com/o/r.git"),
        ("user:@host", "user:@host"),
        ("amqp://user:@host", "amqp://REDACTED_USERNAME:@host"),
        ("redis://:@host", "redis://:@host"),
        # IPv6 hosts, with and without credentials
        (
            "postgres://u:p@[2001:db8::1]:5432/db",
            "postgres://REDACTED_USERNAME:REDACTED_PASSWORD@[2001:db8::1]:5432/db",
        ),
        ("http://[::1]:8080/@me", "http://[::1]:8080/@me"),
        ("http://[fe80::1%25eth0]/x", "http://[fe80::1%25eth0]/x"),
        # any scheme
        (
            "postgresql+psycopg://u:p@h/db jdbc:postgresql://u:p@h/db",
            "postgresql+psycopg://REDACTED_USERNAME:REDACTED_PASSWORD@h/db "
            "jdbc:postgresql://REDACTED_USERNAME:REDACTED_PASSWORD@h/db",
        ),
        (
            "mongodb://u:p@h1:27017,h2:27017/db?replicaSet=rs",
            "mongodb://REDACTED_USERNAME:REDACTED_PASSWORD@h1:27017,h2:27017/db?replicaSet=rs",
        ),
        # in free text, quoted, in JSON (also with escaped slashes), in a repr
        (
            "connection to 'postgres://u:p@h/db' failed: timeout (mail admin@example.org)",
            "connection to 'postgres://REDACTED_USERNAME:REDACTED_PASSWORD@h/db' failed: "
            "timeout (mail admin@example.org)",
        ),
        (
            '{"url":"rediss://default:s3cret@cache:6380","next":"me@example.org"}',
            '{"url":"rediss://REDACTED_USERNAME:REDACTED_PASSWORD@cache:6380",'
            '"next":"me@example.org"}',
        ),
        (
            '{"dsn":"postgres:\\/\\/u:p@h\\/db"}',
            '{"dsn":"postgres:\\/\\/REDACTED_USERNAME:REDACTED_PASSWORD@h\\/db"}',
        ),
        # a whole URL percent-encoded inside another
        (
            "GET /login?next=postgres%3A%2F%2Fu%3Ap%2540x%40h%2Fdb&x=1",
            "GET /login?next=postgres%3A%2F%2FREDACTED_USERNAME%3AREDACTED_PASSWORD%40h%2Fdb&x=1",
        ),
        ("?next=https%3a%2f%2fhost%2fpath%40x", "?next=https%3a%2f%2fhost%2fpath%40x"),
        # several URLs, a URL inside another's query
        (
            "a=http://u:p@h/?next=http://v:q@k/ b=http://w:r@m",
            "a=http://REDACTED_USERNAME:REDACTED_PASSWORD@k/ "
            "b=http://REDACTED_USERNAME:REDACTED_PASSWORD@m",
        ),
        # not URLs with credentials
        ("mailto:me@example.org", "mailto:me@example.org"),
        ("https://medium.com/@user/post", "https://medium.com/@user/post"),
        ("https://host/a@b", "https://host/a@b"),
        ("", ""),
    ],
)
def test_credentials_go_wherever_they_are(text: str, expected: str) -> None:
    assert redact_url_credentials(text) == expected


def test_an_at_sign_in_the_path_after_a_port_reads_as_credentials() -> None:
    # The documented price of covering passwords with a raw `/`: such a URL is redacted
    # (nothing leaks; the host is lost from the log line).
    assert redact_url_credentials("https://host:8080/@me") == (
        "https://REDACTED_USERNAME:REDACTED_PASSWORD@me"
    )


def test_redacting_twice_changes_nothing() -> None:
    once = redact_url_credentials("x postgres://u:pa/ss@h/db?e=a@b.c redis://:p@h y")
    assert redact_url_credentials(once) == once


def test_known_secrets_are_replaced_also_percent_encoded() -> None:
    known = KnownSecrets.from_settings(
        {"API_KEY": "k3y-value-0123", "EMPTY": None},
        urls=["postgres://stack:p%40ss-word-99@h/db"],
    )
    text = "key k3y-value-0123, password p@ss-word-99 or p%40ss-word-99; short p@ss"
    assert known(text) == "key [REDACTED], password [REDACTED] or [REDACTED]; short p@ss"
    assert "p@ss-word-99" not in repr(known)


def test_url_passwords_tolerates_what_is_not_a_url() -> None:
    assert url_passwords("http://[::1") == []
    assert url_passwords("https://host/") == []
    assert url_passwords("redis://:a%2Fb@h") == ["a%2Fb", "a/b"]
