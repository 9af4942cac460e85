"""The redaction suite's parts: run canaries, the report scan, error-answer judging, and the
AniList fake's outage control."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx

from stackproof.checks.leaks import ErrorAnswer, redacted_urls, run_canaries, scan_reports
from stackproof.fakes.anilist import AniListFake, anilist_routes
from stackproof.fakes.httpfake import FakeServer
from stackproof.run import SecretRegistry

MEDIA_QUERY = '{ Media(search: "bebop") { id } }'


def test_every_registered_secret_is_a_canary() -> None:
    registry = SecretRegistry()
    password = registry.generate("postgres.password")
    registry.add("api.key", "k" * 40)
    registry.add("short", "sixsix")  # kept out of reports, too short to scan for
    canaries = {c.label: c.value for c in run_canaries(registry)}
    assert canaries == {"postgres.password": password, "api.key": "k" * 40}


def test_the_report_scan_finds_canaries_the_writer_could_not_scrub(tmp_path: Path) -> None:
    registry = SecretRegistry()
    token = registry.generate("secret.discord_bot_token")
    (tmp_path / "results.json").write_text(json.dumps({"evidence": "[secret:x]"}), "utf-8")
    encoded = base64.b64encode(f"bot:{token}".encode()).decode()
    (tmp_path / "report.html").write_text(f"<p>Authorization: Basic {encoded}</p>", "utf-8")
    findings = scan_reports(tmp_path, registry)
    assert [(f.sink, f.label) for f in findings] == [("report.html", "secret.discord_bot_token")]
    assert token not in findings[0].describe()
    (tmp_path / "report.html").write_text("<p>nothing here</p>", "utf-8")
    assert scan_reports(tmp_path, registry) == []


def test_a_generic_error_answer_passes() -> None:
    body = json.dumps({"error": "dependency unavailable", "request_id": "abc123def456"})
    assert ErrorAnswer("POST /bot/canary", 503, body, "abc123def456").problems() == []


def test_exception_text_extra_keys_and_a_wrong_request_id_are_problems() -> None:
    text = 'OperationalError: connection to server at "127.0.0.1", port 5432 failed'
    leaky = json.dumps({"error": text, "request_id": "abc123def456"})
    assert "exception text" in ErrorAnswer("GET /x", 503, leaky, "abc123def456").problems()[0]
    extra = json.dumps({"error": "oops", "detail": "x", "request_id": "r"})
    assert "expected {error, request_id}" in ErrorAnswer("GET /x", 500, extra, "r").problems()[0]
    wrong_id = json.dumps({"error": "internal error", "request_id": "other"})
    assert "X-Request-ID" in ErrorAnswer("GET /x", 500, wrong_id, "abc").problems()[0]
    assert "not JSON" in ErrorAnswer("GET /x", 500, "Traceback ...", None).problems()[0]


def test_redacted_urls_are_told_from_plain_ones() -> None:
    text = (
        "db postgresql://REDACTED_USERNAME:REDACTED_PASSWORD@h:5432/x, "
        "cache redis://:REDACTED_PASSWORD@h:6379/0, plain https://h/x"
    )
    assert redacted_urls(text) == [
        "postgresql://REDACTED_USERNAME:REDACTED_PASSWORD@",
        "redis://:REDACTED_PASSWORD@",
    ]


def test_the_anilist_fake_answers_500_during_an_outage() -> None:
    fake = AniListFake()
    with FakeServer(anilist_routes(fake)) as server:
        assert httpx.post(server.url, json={"query": MEDIA_QUERY}).status_code == 200
        control = f"{server.url}/_stackproof/outage"
        assert httpx.put(control, json={"status": 500}).status_code == 200
        failing = httpx.post(server.url, json={"query": MEDIA_QUERY})
        assert failing.status_code == 500
        assert failing.json()["errors"][0]["status"] == 500
        assert httpx.put(control, json={"status": 200}).status_code == 400
        assert httpx.delete(control).status_code == 200
        assert httpx.post(server.url, json={"query": MEDIA_QUERY}).status_code == 200
