"""The sink scanner: canaries in the encodings a leak takes, credential patterns, locations,
chunk boundaries, and findings that never carry the secret."""

from __future__ import annotations

import base64
import gzip
import html
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from stackproof.checks.sinks import Canary, Finding, SinkScanner, encodings_of

TOKEN = "Zk3pQ9vT2mX7wR4yB8nL1cD6"  # as SecretRegistry.generate makes them
RESERVED = 'p@ss/w:rd?&="<é>\\#'  # a DSN password with reserved and non-ASCII characters
USER_ID = "123456789012345678"
REDIS = RESERVED + "-x1"
CANARIES = {"postgres.password": TOKEN, "redis.password": REDIS, "user": USER_ID}


@pytest.fixture(scope="module")
def scanner() -> SinkScanner:
    return SinkScanner(CANARIES)


def assert_no_secret_in(findings: list[Finding]) -> None:
    __tracebackhide__ = True
    for finding in findings:
        shown = finding.describe() + json.dumps(finding.to_json()) + repr(finding)
        for value in CANARIES.values():
            assert value not in shown
            assert value[: len(value) // 2] not in shown or value.isdigit()


def found(scanner: SinkScanner, text: str | bytes) -> set[tuple[str, str]]:
    findings = scanner.scan(text, "test")
    assert_no_secret_in(findings)
    return {(f.label, f.encoding) for f in findings}


def b64_inside(prefix: bytes, value: str, urlsafe: bool = False) -> str:
    encode = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return encode(prefix + value.encode() + b" trailing").decode()


@pytest.mark.parametrize(
    ("leak", "label", "encoding"),
    [
        (f"password={TOKEN} ok", "postgres.password", "raw"),
        (f"at byte {len(TOKEN)} of {TOKEN[:12]}...", "postgres.password", "first half"),
        (f"...{TOKEN[12:]} (truncated)", "postgres.password", "second half"),
        (f"Basic {b64_inside(b'stack:', TOKEN)}", "postgres.password", "base64"),
        (f"blob {b64_inside(b'ab', TOKEN)}", "postgres.password", "base64"),
        (f"blob {b64_inside(b'a', TOKEN)}", "postgres.password", "base64"),
        (f"blob {b64_inside(b'', TOKEN, urlsafe=True)}", "postgres.password", "base64"),
        (f"bytea \\x{TOKEN.encode().hex()}", "postgres.password", "hex"),
        (f"HEX {TOKEN.encode().hex().upper()}", "postgres.password", "hex"),
        (f"redis://:{quote(REDIS, safe='')}@cache", "redis.password", "url"),
        (f"redis://:{quote(REDIS, safe='').lower()}@cache", "redis.password", "url"),
        (f"next={quote(quote(REDIS, safe=''), safe='')}", "redis.password", "url-twice"),
        (json.dumps({"url": REDIS}), "redis.password", "json"),
        (json.dumps({"u": REDIS}, ensure_ascii=False), "redis.password", "json"),
        (json.dumps({"u": REDIS}).replace("/", "\\/"), "redis.password", "json"),
        (f"<td>{html.escape(REDIS)}</td>", "redis.password", "html"),
        ("<td>p@ss/w:rd?&amp;=&#34;&lt;é&gt;\\#-x1</td>", "redis.password", "html"),
        (repr(REDIS), "redis.password", "repr"),
        (f"user {USER_ID} joined", "user", "raw"),
    ],
)
def test_a_canary_is_found_in_the_encodings_a_leak_takes(
    scanner: SinkScanner, leak: str, label: str, encoding: str
) -> None:
    assert (label, encoding) in found(scanner, leak)


def test_an_all_digit_canary_is_not_looked_for_by_halves() -> None:
    assert not any(name.endswith("half") for name in encodings_of(USER_ID).values())
    assert "first half" in encodings_of(TOKEN).values()


def test_a_short_canary_is_refused() -> None:
    with pytest.raises(ValueError, match="shorter than 8 bytes"):
        Canary("tiny", "abc")


def test_a_scanner_needs_something_to_look_for() -> None:
    with pytest.raises(ValueError, match="nothing to look for"):
        SinkScanner({}, patterns=())


@pytest.mark.parametrize(
    ("leak", "pattern"),
    [
        ("postgres://stack:hunter22@db/stack", "url-password"),
        ('{"dsn":"redis:\\/\\/default:hunter22@cache"}', "url-password"),
        ("next=postgres%3A%2F%2Fstack%3Ahunter22%40db%2Fstack", "url-password-encoded"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwx.yz", "bearer-token"),
        ('"authorization": "Basic c3RhY2s6aHVudGVyMjI="', "basic-auth"),
        ("X-API-Key: 0123456789abcdef", "key-assignment"),
        ('{"client_secret": "s3cr3t-value-42"}', "key-assignment"),
        ("host=db user=stack password=hunter22 dbname=stack", "password-assignment"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private-key"),
        (
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            "jwt",
        ),
        (
            "MTIzNDU2Nzg5MDEyMzQ1Njc4.GaBcDe.abcdefghijklmnopqrstuvwxyz0123456789AB",
            "discord-bot-token",
        ),
        ("AKIAIOSFODNN7EXAMPLE", "aws-access-key"),
        ("ghp_" + "a" * 36, "github-token"),
        ("xoxb-1234567890-abcdef", "slack-token"),
        ("sntrys_" + "b" * 40, "sentry-auth-token"),
    ],
)
def test_credential_patterns(scanner: SinkScanner, leak: str, pattern: str) -> None:
    assert (pattern, "pattern") in found(scanner, f"before {leak} after")


@pytest.mark.parametrize(
    "harmless",
    [
        "postgres://REDACTED_USERNAME:REDACTED_PASSWORD@db/stack",
        "redis://:REDACTED_PASSWORD@cache:6379",
        "postgres://stack:***@db/stack",
        "postgres://db:5432/stack https://host/a@b mail me@example.org",
        "password authentication failed for user stack",
        "password=REDACTED password: [REDACTED] password=%s password: null",
        "Basic configuration is documented; bearer of bad news",
        "X-API-Key: [secret:auth.api_key]",
        "request_id=4bf92f3577b34da6a3ce929d0e0e4736 status=200 duration_ms=12.5",
        "user 747caa1360c9b247 (hashed)",
    ],
)
def test_what_is_not_a_leak_is_not_reported(scanner: SinkScanner, harmless: str) -> None:
    assert found(scanner, harmless) == set()


def test_a_credential_carrying_a_canary_is_reported_as_both(scanner: SinkScanner) -> None:
    assert found(scanner, f"postgres://stack:{TOKEN}@db/stack") == {
        ("url-password", "pattern"),
        ("postgres.password", "raw"),
    }


def test_locations_are_lines_and_byte_offsets(scanner: SinkScanner) -> None:
    text = f"first\nsecond é\nthird {TOKEN}\n\nfifth {USER_ID}"
    findings = scanner.scan(text, "auth.log")
    data = text.encode()
    assert [(f.location, f.offset, f.label) for f in findings] == [
        ("auth.log:3", data.index(TOKEN.encode()), "postgres.password"),
        ("auth.log:5", data.index(USER_ID.encode()), "user"),
    ]


def test_excerpts_mask_every_secret_and_cut_pieces(scanner: SinkScanner) -> None:
    text = f"abcdefghijklmnopqrstuvwxyz0123456789 key {TOKEN} then {USER_ID} and {TOKEN[:14]}"
    excerpts = [f.excerpt for f in scanner.scan(text, "x")]
    assert excerpts[0] == " key <<postgres.password>> then [...] and "
    # The second half of the token sits glued to nothing; the first half is a canary itself.
    assert all(TOKEN[:12] not in e and USER_ID not in e for e in excerpts)
    assert_no_secret_in(scanner.scan(f"{TOKEN[:12]}{TOKEN[12:13]}zz", "glued"))
    (glued,) = scanner.scan(f"xx {TOKEN[:12]}Q7 yy", "glued")
    assert glued.excerpt == "xx <<postgres.password>> yy"  # "Q7" may be more of it


def test_json_documents_and_binary_data(scanner: SinkScanner) -> None:
    event = {"exception": {"values": [{"value": f"could not connect: {RESERVED}-x1"}]}}
    assert found(scanner, json.dumps(event).encode()) >= {("redis.password", "json")}
    assert {(f.label, f.encoding) for f in scanner.scan_json(event, "sentry")} == {
        ("redis.password", "json")
    }
    assert found(scanner, gzip.compress(TOKEN.encode() * 3) + b"\xff\xfe\x00") == set()


def test_files_and_trees(tmp_path: Path, scanner: SinkScanner) -> None:
    reports = tmp_path / "run"
    (reports / "logs").mkdir(parents=True)
    (reports / "logs" / "auth.log").write_text(f"ok\nconnect {TOKEN}\n")
    (reports / "results.json").write_text(json.dumps({"message": "clean"}))
    (reports / "latest").symlink_to(reports / "logs" / "auth.log")
    findings = scanner.scan_tree(reports)
    assert [(f.location, f.label) for f in findings] == [
        ("run/logs/auth.log:2", "postgres.password")
    ]


def test_many_canaries_of_a_run() -> None:
    canaries = {f"canary.{n}": f"{TOKEN}{n:04d}" for n in range(60)}
    scanner = SinkScanner(canaries)
    text = " ".join(f"leak {value}" for value in canaries.values())
    assert {f.label for f in scanner.scan(text, "x")} == set(canaries)


# -- files ---------------------------------------------------------------------------------


def test_a_file_gives_what_its_bytes_give(tmp_path: Path, scanner: SinkScanner) -> None:
    data = "\n".join(f"line {n} {TOKEN if n % 7 == 0 else 'ordinary'}" for n in range(100))
    path = tmp_path / "x.log"
    path.write_text(data)
    from_file = scanner.scan_file(path, "x")
    assert [(f.offset, f.line, f.excerpt) for f in from_file] == [
        (f.offset, f.line, f.excerpt) for f in scanner.scan(data, "x")
    ]
    assert [f.line for f in from_file] == list(range(1, 101, 7))


def test_an_empty_file(tmp_path: Path, scanner: SinkScanner) -> None:
    empty = tmp_path / "empty"
    empty.touch()
    assert scanner.scan_file(empty) == []
