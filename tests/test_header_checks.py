"""The header checks judge headers only, on the answers the catalog names (R-HDR-1..7).

Each test is a false verdict seen on a real stack, reproduced against crafted answers.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest
from support import REFERENCE, reference_variant, run_suites

from stackproof.checks.answers import (
    Answer,
    cookie_check,
    csp_check,
    error_headers_check,
    hsts_check,
    request_id_check,
    request_id_log_check,
    success_headers_check,
)
from stackproof.checks.csp import normal_source, permits
from stackproof.checks.http import exchange_record
from stackproof.errors import ProfileError
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


# --- R-HDR-6: Content-Security-Policy, parsed and judged by strictness ----------------------

CSP = "Content-Security-Policy"
REFERENCE_CSP = "default-src 'none'; frame-ancestors 'none'"


def with_csp(*policies: str, label: str = "probe home", status: int = 200) -> Answer:
    headers = [*secured("r1").items(), *((CSP, p) for p in policies)]
    return answer(label, status, status, headers)


def csp_report(profile: Profile, *policies: str) -> str:
    return csp_check([with_csp(*policies)], profile).report()


def tightened(profile: Profile, policy: str) -> Profile:
    headers = profile.policy.headers.model_copy(update={"content_security_policy": policy})
    return profile.model_copy(
        update={"policy": profile.policy.model_copy(update={"headers": headers})}
    )


@pytest.mark.parametrize(
    "policy",
    [
        REFERENCE_CSP,
        "DEFAULT-SRC 'NONE'; Frame-Ancestors 'None'",  # names and keywords: any case
        "default-src; frame-ancestors",  # an empty source list matches nothing
        "  default-src  'none' ;;frame-ancestors 'none';  ",
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox",  # stricter
        "default-src 'none'; frame-ancestors 'none'; report-uri /csp",  # reports: no matter
    ],
)
def test_a_policy_at_least_as_strict_passes(profile: Profile, policy: str) -> None:
    assert not csp_check([with_csp(policy)], profile), csp_report(profile, policy)


@pytest.mark.parametrize(
    ("policies", "expected"),
    [
        ((), "Content-Security-Policy is missing"),
        (("",), "has no directive"),
        (("default-src 'none'",), "no frame-ancestors: not restricted"),
        (("frame-ancestors 'none'",), "not restricted (required: 'none', for every fetch)"),
        (
            ("default-src 'none'; script-src 'self' 'unsafe-inline'; frame-ancestors 'none'",),
            "script-src allows 'unsafe-inline'",
        ),
        (
            ("default-src 'none'; script-src 'unsafe-eval'; frame-ancestors 'none'",),
            "script-src allows 'unsafe-eval'",
        ),
        (("default-src *; frame-ancestors 'none'",), "default-src allows the wildcard source *"),
        (
            ("default-src 'none'; img-src https://*.example.com; frame-ancestors 'none'",),
            "img-src allows the wildcard source https://*.example.com",
        ),
        (
            ("default-src 'none'; connect-src https:; frame-ancestors 'none'",),
            "connect-src allows the wildcard source https:",
        ),
        (("default-src 'none'; frame-ancestors *",), "frame-ancestors allows the wildcard"),
        (
            ("default-src 'none'; img-src data:; frame-ancestors 'none'",),
            "img-src data: permits data: (required: 'none', for img-src)",
        ),
        (
            ("default-src 'none'; frame-ancestors 'self'",),
            "frame-ancestors 'self' permits 'self' (required: frame-ancestors 'none')",
        ),
        (
            ("default-src 'none'; default-src *; frame-ancestors 'none'",),
            "default-src is given more than once",
        ),
        (("default_src 'none'; frame-ancestors 'none'",), "'default_src' is not a directive"),
    ],
    ids=[
        "missing", "empty", "no-frame-ancestors", "no-default-src", "unsafe-inline",
        "unsafe-eval", "star", "host-wildcard", "scheme-wildcard", "framed-anywhere",
        "data-images", "framed-by-self", "repeated", "misspelt",
    ],
)  # fmt: skip
def test_a_laxer_policy_fails_saying_how(
    profile: Profile, policies: tuple[str, ...], expected: str
) -> None:
    assert expected in csp_report(profile, *policies)


def test_a_policy_only_reported_is_not_enforced(profile: Profile) -> None:
    headers = [*secured("r1").items(), ("Content-Security-Policy-Report-Only", REFERENCE_CSP)]
    report = csp_check([answer("probe home", 200, 200, headers)], profile).report()
    assert "Content-Security-Policy is missing" in report
    assert "Report-Only, which browsers do not enforce" in report


def test_a_string_comparison_would_be_wrong_both_ways(profile: Profile) -> None:
    """Same text with another directive order passes; same prefix with a laxer tail fails."""
    assert not csp_check([with_csp("frame-ancestors 'none'; default-src 'none'")], profile)
    laxer = "default-src 'none'; frame-ancestors 'none'; script-src-elem https://cdn.example"
    assert "script-src-elem https://cdn.example permits" in csp_report(profile, laxer)


def test_several_enforced_policies_all_apply(profile: Profile) -> None:
    """A second policy (another field, or after a comma) restricts what the first allows."""
    assert not csp_check([with_csp("img-src 'self'", REFERENCE_CSP)], profile)
    assert not csp_check([with_csp(f"img-src 'self', {REFERENCE_CSP}")], profile)
    # ... but an unsafe source stays a finding wherever it stands (the catalog's words).
    assert "script-src allows 'unsafe-inline'" in csp_report(
        profile, "script-src 'unsafe-inline'", REFERENCE_CSP
    )


def test_a_tightened_profile_value_is_held_directive_by_directive(profile: Profile) -> None:
    strict = tightened(
        profile,
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
        "form-action https://example.com/forms/; sandbox allow-forms; upgrade-insecure-requests",
    )
    meets = (
        "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; sandbox; "
        "form-action https://example.com/forms/send; upgrade-insecure-requests"
    )
    assert not csp_check([with_csp(meets)], strict), csp_check([with_csp(meets)], strict).report()
    report = csp_check([with_csp(REFERENCE_CSP)], strict).report()
    assert "no base-uri: not restricted" in report
    assert "no form-action: not restricted" in report
    assert "sandbox: required" in report
    assert "upgrade-insecure-requests: required" in report
    elsewhere = f"{meets.replace('/forms/send', '/other')}"
    assert (
        "form-action https://example.com/other permits"
        in csp_check([with_csp(elsewhere)], strict).report()
    )


@pytest.mark.parametrize(
    "policy",
    [
        "default-src 'self'; frame-ancestors 'none'",
        "default-src 'none'",
        "default-src 'none'; frame-ancestors 'none'; script-src 'unsafe-inline'",
    ],
)
def test_a_profile_cannot_loosen_the_catalog_policy(tmp_path: Path, policy: str) -> None:
    path = reference_variant(
        tmp_path,
        {
            "[policy.limits]": f'[policy.headers]\ncontent_security_policy = "{policy}"\n\n[policy.limits]'
        },
    )
    with pytest.raises(ProfileError, match=r"content_security_policy: .*at least as strict"):
        load_profile(path)


def test_every_https_answer_is_held_to_the_policy_but_not_the_plain_http_redirect(
    profile: Profile,
) -> None:
    answers = [
        with_csp(REFERENCE_CSP),
        with_csp(label="probe unknown_page", status=404),
        with_csp(REFERENCE_CSP, label="oversized body", status=413),
        answer("plain-HTTP redirect", 301, 301, secured("r2"), scheme="http", service="nginx"),
    ]
    problems = csp_check(answers, profile)
    assert list(problems.found) == ["probe unknown_page (404)"]
    with pytest.raises(pytest.skip.Exception, match="to enable"):
        csp_check(answers[-1:], profile)


@pytest.mark.parametrize(
    ("required", "given", "expected"),
    [
        ("https://example.com", "https://example.com:443", True),
        ("https://example.com", "example.com", True),  # no scheme: the answer's own, https
        ("https://example.com", "http://example.com", False),
        ("http://example.com", "https://example.com", True),  # an upgrade is allowed
        ("https://*.example.com", "https://a.example.com", True),
        ("https://*.example.com", "https://example.com", False),
        ("https://example.com/a/", "https://example.com/a/b", True),
        ("https://example.com/a", "https://example.com/a/b", False),
        ("https://example.com/a/", "https://example.com", False),  # any path
        ("https://example.com:8443", "https://example.com", False),
        ("https:", "https://example.com", True),
        ("https:", "'self'", True),
        ("*", "wss://example.com", True),
        ("*", "data:", False),
        ("*", "'unsafe-inline'", False),
        ("'sha256-AbC='", "'sha256-abc='", False),  # hash values are case-sensitive
    ],
)
def test_source_expressions_permit_as_csp_level_3_matches(
    required: str, given: str, expected: bool
) -> None:
    assert permits(normal_source(required), normal_source(given)) is expected


# --- R-HDR-7: cookies ---------------------------------------------------------------------------

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def with_cookies(*lines: str, label: str = "OAuth start", status: int = 302) -> Answer:
    headers = [*secured("r1").items(), *(("Set-Cookie", line) for line in lines)]
    return answer(label, status, status, headers, service="auth")


def test_a_cookie_secure_httponly_and_same_site_passes() -> None:
    answers = [
        with_cookies("state=s3cr3t; Path=/auth; Secure; HttpOnly; SameSite=Lax"),
        with_cookies("__Host-id=v; secure; HTTPONLY; samesite=strict; Path=/", label="b"),
    ]
    problems, seen = cookie_check(answers, NOW)
    assert not problems, problems.report()
    assert seen["OAuth start (302)"] == [
        "state=[withheld]; Path=/auth; Secure; HttpOnly; SameSite=Lax"
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("sid=v; HttpOnly; SameSite=Lax", "no Secure"),
        ("sid=v; Secure; SameSite=Strict", "no HttpOnly"),
        ("sid=v; Secure; HttpOnly", "no SameSite"),
        ("sid=v; Secure; HttpOnly; SameSite=None", "SameSite=None, not Lax or Strict"),
        ("sid=v; Secure; HttpOnly; SameSite=Lax; SameSite=None", "SameSite=None"),  # last counts
        ("sid=v; Secure; HttpOnly; SameSite", "SameSite=, not Lax or Strict"),
        ("sid=v; Secure=no; HttpOnly; SameSite=Lax; Max-Age=oops", None),  # flags need no value
        ("noname; Secure; HttpOnly", "'(no name)': no SameSite"),
        ("sid=v", "no Secure, no HttpOnly, no SameSite"),
    ],
)
def test_a_cookie_missing_an_attribute_fails_naming_it(line: str, expected: str | None) -> None:
    problems, _ = cookie_check([with_cookies(line)], NOW)
    if expected is None:
        assert not problems, problems.report()
    else:
        assert expected in problems.report()
        assert "=v" not in problems.report(), "a cookie's value is never shown"


def test_every_set_cookie_field_is_judged_and_expires_commas_do_not_split_them() -> None:
    expires = "Expires=Wed, 01 Jul 2026 00:00:00 GMT"
    answers = [with_cookies(f"a=1; {expires}; Secure; HttpOnly; SameSite=Lax", f"b=2; {expires}")]
    problems, seen = cookie_check(answers, NOW)
    assert list(problems.found) == ["OAuth start (302)"]
    assert "cookie 'b': no Secure" in problems.report()
    assert len(seen["OAuth start (302)"]) == 2


def test_a_set_cookie_that_removes_a_cookie_sets_none() -> None:
    """Logging out sends `Max-Age=0` or a past `Expires`: nothing is set, nothing to check."""
    answers = [
        with_cookies("sid=; Max-Age=0"),
        with_cookies("sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT", label="logout"),
    ]
    with pytest.raises(pytest.skip.Exception, match="2 Set-Cookie removed one"):
        cookie_check(answers, NOW)


def test_no_cookie_anywhere_skips_never_passes() -> None:
    with pytest.raises(pytest.skip.Exception, match="no answer of the 1 looked at set a cookie"):
        cookie_check([answer("probe home", 200, 200, secured("r1"))], NOW)


def test_cookie_values_stay_out_of_the_evidence() -> None:
    response = with_cookies("sid=session-secret; Secure; HttpOnly; SameSite=Lax").response
    record = exchange_record(response)
    assert "session-secret" not in str(record)
    assert record["headers"]["set-cookie"] == "sid=[withheld]; Secure; HttpOnly; SameSite=Lax"


STATE_COOKIE = "oauth_state=[withheld]; HttpOnly; Max-Age=300; Path=/; SameSite=lax; Secure"


@pytest.mark.stack
def test_a_stack_whose_cookies_are_right_passes_r_hdr_7(tmp_path: Path) -> None:
    """The reference sets no cookie (R-HDR-7 skips there); a variant whose OAuth start sets
    its state as a cookie the way R-HDR-7 asks must pass, not just fail when it is wrong."""
    variant = tmp_path / "mutants" / "cookie-done-right"
    variant.mkdir(parents=True)
    old = "    return RedirectResponse(anilist.authorize_url(state), status_code=302)"
    new = (
        "    response = RedirectResponse(anilist.authorize_url(state), status_code=302)\n"
        '    response.set_cookie("oauth_state", state, max_age=300, secure=True, httponly=True)\n'
        "    return response"
    )
    (variant / "mutant.toml").write_text(
        'description = "the OAuth start sets its state as a cookie, as R-HDR-7 asks"\n'
        'expects = ["R-HDR-7"]\n\n'
        f'[[edit]]\nfile = "refstack/auth/app.py"\nold = """{old}"""\nnew = """{new}"""\n',
        "utf-8",
    )
    run = run_suites(
        tmp_path / "reports",
        f"--profile={REFERENCE}",
        "--backend=process",
        "--mutant=cookie-done-right",
        f"--mutants-dir={variant.parent}",
        "--requirement=R-HDR-7",
    )
    assert run.covered() == {"R-HDR-7": "pass"}, run.output[-3000:]
    evidence = next(r for r in run.results["requirements"] if r["id"] == "R-HDR-7")["evidence"]
    seen = next(e["data"] for e in evidence if e["label"] == "Set-Cookie seen (values withheld)")
    assert seen == {"OAuth start (302)": [STATE_COOKIE]}, seen
