"""R-RED-4 names the exception text an error answer leaked, whatever the body's shape."""

from __future__ import annotations

import json

import pytest

from stackproof.checks.leaks import ErrorAnswer

RID = "4f1c2b9a0d8e7f6a"

TRACEBACK = """Traceback (most recent call last):
  File "/srv/refstack/bot/app.py", line 88, in canary
    rows = await store.write(seq)
psycopg.OperationalError: connection failed: connection to server at "127.0.0.1", port 41817 failed: FATAL:  password authentication failed for user "stack"
"""


def report(body: str, status: int = 503) -> str:
    return "\n".join(ErrorAnswer("POST /bot/canary", status, body, RID).problems())


def test_a_plain_text_traceback_is_named_not_only_its_shape() -> None:
    said = report(TRACEBACK, 500)
    assert "not JSON" in said
    assert "a traceback" in said
    assert "psycopg.OperationalError" in said
    assert 'password authentication failed for user "stack"' in said


@pytest.mark.parametrize(
    ("leak", "named"),
    [
        ("[Errno 111] Connection refused", "[Errno 111] Connection refused"),
        ("Error 111 connecting to 127.0.0.1:6379. Connection refused.", "Error 111 connecting"),
        ("redis.exceptions.ConnectionError", "redis.exceptions.ConnectionError"),
        ("ConnectionRefusedError", "ConnectionRefusedError"),
        ("could not connect to server: No such file or directory", "could not connect to server"),
    ],
)
def test_exception_text_in_an_extra_key_is_named(leak: str, named: str) -> None:
    body = json.dumps({"error": "dependency unavailable", "request_id": RID, "detail": leak})
    said = report(body)
    assert "expected {error, request_id}" in said
    assert named in said, said


def test_exception_text_in_the_message_is_named() -> None:
    body = json.dumps(
        {"error": "OperationalError: [Errno 111] Connect call failed", "request_id": RID}
    )
    said = report(body)
    assert "OperationalError" in said, said
    assert "[Errno 111]" in said, said


def test_a_generic_answer_of_any_wording_passes() -> None:
    for message in (
        "dependency unavailable",
        "missing or invalid API key",
        "request too large",
        "AniList did not complete the link",
        "internal error",
    ):
        assert report(json.dumps({"error": message, "request_id": RID})) == "", message


def test_an_html_error_page_without_exception_text_is_only_the_wrong_shape() -> None:
    said = report("<html><body><h1>502 Bad Gateway</h1><hr>nginx</body></html>", 502)
    assert said.count("\n") == 0
    assert "not JSON" in said
