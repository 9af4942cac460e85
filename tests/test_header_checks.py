"""The header checks judge headers only, on the answers the catalog names (R-HDR-1..3, 5).

Each test is a false verdict seen on a real stack, reproduced against crafted answers.
"""

from __future__ import annotations

import httpx
import pytest
from support import REFERENCE

from stackproof.checks.answers import (
    Answer,
    error_headers_check,
    hsts_check,
    request_id_check,
    request_id_log_check,
    success_headers_check,
)
from stackproof.profile import Profile, load_profile

SECURITY = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(REFERENCE)


def answer(
    label: str,
    expect: int,
    status: int,
    headers: dict[str, str] | list[tuple[str, str]],
    *,
    scheme: str = "https",
    service: str | None = "bot",
    path: str = "/",
) -> Answer:
    request = httpx.Request("GET", f"{scheme}://localhost{path}")
    response = httpx.Response(status, headers=headers, request=request)
    return Answer(label, expect, response, "https" if scheme == "https" else "http", service)


def secured(request_id: str, **extra: str) -> dict[str, str]:
    return {**SECURITY, "X-Request-ID": request_id, **extra}


def test_the_plain_http_redirect_is_not_held_to_the_security_headers(profile: Profile) -> None:
    """RFC 6797 §8.1: browsers ignore HSTS over plain HTTP; R-HDR-3 does not list the 301."""
    answers = [
        answer("probe unknown_page", 404, 404, secured("r1"), path="/nope"),
        answer(
            "plain-HTTP redirect",
            301,
            301,
            {"Location": "https://localhost/", "X-Request-ID": "r2"},
            scheme="http",
            service="nginx",
        ),
    ]
    assert not error_headers_check(answers, profile), error_headers_check(answers, profile).report()


def test_a_header_check_judges_headers_not_the_status(profile: Profile) -> None:
    """Every header present; the statuses are R-TLS-5's and R-TLS-7's to judge."""
    answers = [
        answer("probe home", 200, 200, secured("r1")),
        answer("oversized body", 413, 401, secured("r2"), service="nginx"),
        answer("probe unknown_page", 404, 200, secured("r3")),
        answer(
            "plain-HTTP redirect",
            301,
            200,
            {**SECURITY, "X-Request-ID": "r4"},
            scheme="http",
            service="nginx",
        ),
    ]
    for check in (hsts_check, success_headers_check, error_headers_check):
        problems = check(answers, profile)
        assert not problems, problems.report()


def test_a_missing_header_is_still_found_whatever_the_status(profile: Profile) -> None:
    headers = {k: v for k, v in secured("r1").items() if k != "X-Frame-Options"}
    answers = [
        answer("probe home", 200, 200, secured("r0")),
        answer("oversized body", 413, 401, headers, service="nginx"),
    ]
    problems = error_headers_check(answers, profile)
    assert "X-Frame-Options is missing" in problems.report()


@pytest.mark.parametrize(
    "check", [hsts_check, success_headers_check, error_headers_check, request_id_check]
)
def test_a_header_check_with_no_answer_of_its_kind_skips(check: object, profile: Profile) -> None:
    """A check that loops over nothing must not pass."""
    only_plain_http = [
        answer("plain-HTTP redirect", 301, 301, secured("r1"), scheme="http", service="nginx")
    ]
    answers = [] if check is request_id_check else only_plain_http
    with pytest.raises(pytest.skip.Exception, match="to enable"):
        check(answers, profile)  # type: ignore[operator]


def test_an_answer_with_two_request_ids_is_flagged_naming_who_logged_which(
    profile: Profile,
) -> None:
    """nginx added its own X-Request-ID on top of the app's: httpx joins them as "a, b"."""
    headers = [*SECURITY.items(), ("X-Request-ID", "app0001"), ("X-Request-ID", "ngx0002")]
    answers = [answer("probe home", 200, 200, headers), answer("probe x", 404, 404, secured("r9"))]
    logs = {
        "bot": 'INFO "GET / HTTP/1.1" 200 request_id=app0001\nINFO r9',
        "nginx": '127.0.0.1 "GET / HTTP/1.1" 200 request_id=ngx0002',
    }
    report = request_id_check(answers, profile, logs).report()
    assert "probe home" in report
    assert "2 request IDs" in report
    assert "app0001 (logged by bot)" in report
    assert "ngx0002 (logged by nginx)" in report

    problems, _ = request_id_log_check(answers, profile, logs)
    report = problems.report()
    assert "app0001, ngx0002" not in report  # each ID is looked up on its own
    assert "ngx0002" in report
    assert "nginx logged it" in report
    assert "app0001" not in report  # the bot did log its own


def test_two_request_ids_are_flagged_even_without_logs(profile: Profile) -> None:
    headers = [*SECURITY.items(), ("X-Request-ID", "a1"), ("X-Request-ID", "b2")]
    report = request_id_check([answer("probe home", 200, 200, headers)], profile).report()
    assert "2 request IDs: a1, b2" in report


def test_one_request_id_per_answer_passes(profile: Profile) -> None:
    answers = [answer("probe home", 200, 200, secured("a1")), answer("x", 404, 404, secured("b2"))]
    logs = {"bot": "a1 b2", "nginx": ""}
    assert not request_id_check(answers, profile, logs)
    assert not request_id_log_check(answers, profile, logs)[0]
