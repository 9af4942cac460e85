"""The MDN HTTP Observatory's own scoring of the reference stack, and of some of its mutants,
agrees with our header checks point by point (R-HDR-1, 2, 4, 6, 7; R-TLS-5).

Each Observatory test that concerns headers has the requirement that owns it. On the answers
the Observatory judged (`GET /` over HTTPS and `/robots.txt` for cookies, the plain-HTTP
`GET /` and its redirect, a CORS preflight of `/`), our check of that requirement must fail
wherever the Observatory's test fails: a pass of ours there would be a pass the Observatory
refutes. Where ours fails and the Observatory's passes, the catalog is stricter, and the
test knows exactly which of the Observatory's results that may be and why (`STRICTER`); any
other disagreement fails this test. The reference stack must grade A+.

Skips, saying why, where the Observatory is not installed or cannot run (see observatory.py).
Writes every scan's grade and score to `reports/observatory/scans.json`.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from observatory import Scan, find_observatory, scan, unavailable
from support import REFERENCE, ROOT

from stackproof.backends.process import ProcessBackend
from stackproof.checks.answers import (
    Answer,
    cookie_check,
    cors_grant,
    csp_problems,
    hsts_problems,
    required_header_problems,
)
from stackproof.checks.http import FrontClient
from stackproof.mutants import load_mutant, materialize
from stackproof.profile import Profile, load_profile
from stackproof.run import RunContext

pytestmark = pytest.mark.stack

SCANS = ROOT / "reports" / "observatory" / "scans.json"
OBSERVATORY_ORIGIN = "https://http-observatory.security.mozilla.org"  # its CORS probe
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

# Observatory test -> the requirement that owns it.
OWNERS = {
    "content-security-policy": "R-HDR-6",
    "cookies": "R-HDR-7",
    "cross-origin-resource-sharing": "R-HDR-4",
    "redirection": "R-TLS-5",
    "referrer-policy": "R-HDR-2",
    "strict-transport-security": "R-HDR-1",
    "x-content-type-options": "R-HDR-2",
    "x-frame-options": "R-HDR-2",
}
# Observatory tests no requirement owns, and why.
UNOWNED = {
    "subresource-integrity": "about <script> tags in HTML; API answers are JSON",
    "cross-origin-resource-policy": "the catalog has no CORP row; the Observatory passes its "
    "absence and only adds a bonus when it is set",
}
# Where our check fails and the Observatory's passes: its results that are laxer than the
# catalog, and what the catalog asks for instead. Any other disagreement is a defect.
STRICTER = {
    "x-frame-options": {
        "x-frame-options-sameorigin-or-deny": "R-HDR-2 asks for DENY; SAMEORIGIN passes there",
        "x-frame-options-implemented-via-csp": "R-HDR-2 asks for X-Frame-Options itself, "
        "also with CSP frame-ancestors (which older browsers ignore)",
        "x-frame-options-allow-from-origin": "R-HDR-2 asks for DENY",
    },
    "content-security-policy": {
        "csp-implemented-with-no-unsafe-default-src-none": "it does not look for wildcards in "
        "img-src/media-src/font-src/connect-src ('passive' content); R-HDR-6 fails any "
        "wildcard, which lets injected markup send data anywhere",
        "csp-implemented-with-no-unsafe": "R-HDR-6 asks for default-src 'none'",
        "csp-implemented-with-unsafe-inline-in-style-src-only": "R-HDR-6 fails 'unsafe-inline' "
        "in any directive",
        "csp-implemented-with-insecure-scheme-in-passive-content-only": "R-HDR-6 asks for "
        "'none' for every fetch",
        "csp-implemented-but-duplicate-directives": "R-HDR-6 reports the repeated directive",
    },
    "referrer-policy": {
        "referrer-policy-private": "R-HDR-2 asks for strict-origin-when-cross-origin; any "
        "private policy passes there",
        "referrer-policy-not-implemented": "R-HDR-2 asks for the header",
    },
    "cookies": {
        "cookies-secure-with-httponly-sessions": "R-HDR-7 asks for SameSite=Lax or Strict on "
        "every cookie, and HttpOnly on every cookie, not only on those named like sessions",
    },
    "cross-origin-resource-sharing": {
        "cross-origin-resource-sharing-implemented-with-public-access": "R-HDR-4 refuses `*` "
        "to a foreign origin",
        "cross-origin-resource-sharing-implemented-with-restricted-access": "R-HDR-4 refuses "
        "any grant to a foreign origin",
    },
    "strict-transport-security": {
        "hsts-implemented-max-age-at-least-six-months": "R-HDR-1 asks for 2 years and "
        "includeSubDomains",
        "hsts-preloaded": "R-HDR-1 asks for the header on every answer",
    },
    "redirection": {
        "redirection-to-https": "R-TLS-5 asks for 301 to the same host and path",
    },
}


@dataclass(frozen=True)
class Variant:
    """A stack to scan: the reference, one of `mutants/`, or a cookie set at the front."""

    name: str
    mutant: str | None = None
    cookie: str | None = None  # a Set-Cookie nginx adds to every HTTPS answer
    stricter: frozenset[str] = frozenset()  # Observatory tests expected to pass where ours fail
    failing: frozenset[str] = frozenset()  # Observatory tests expected to fail


VARIANTS = [
    Variant("reference"),
    Variant("csp-missing", "csp-missing", failing=frozenset({"content-security-policy"})),
    Variant("csp-wildcard", "csp-wildcard", stricter=frozenset({"content-security-policy"})),
    Variant(
        "frame-options-sameorigin", "frame-options-sameorigin",
        stricter=frozenset({"x-frame-options"}),
    ),
    Variant("hsts-missing", "hsts-missing", failing=frozenset({"strict-transport-security"})),
    # The grant reaches a browser's GET; the Observatory's preflight sees a 405 (blind_spot).
    Variant(
        "cors-reflects-origin", "cors-reflects-origin",
        stricter=frozenset({"cross-origin-resource-sharing"}),
    ),
    Variant("cookie-done-right", cookie="session=1; Path=/; Secure; HttpOnly; SameSite=Strict"),
    Variant(
        "session-cookie-without-samesite", cookie="session=1; Path=/; Secure; HttpOnly",
        stricter=frozenset({"cookies"}),
    ),
    Variant(
        "session-cookie-without-secure", cookie="session=1; Path=/; HttpOnly; SameSite=Lax",
        failing=frozenset({"cookies"}),
    ),
]  # fmt: skip


@pytest.fixture(scope="module")
def observatory() -> Path:
    package = find_observatory(ROOT)
    if (why := unavailable(package)) is not None or package is None:
        pytest.skip(why or "the Observatory is not installed")
    return package


@pytest.fixture(scope="module")
def scans_seen() -> Iterator[dict[str, dict[str, object]]]:
    seen: dict[str, dict[str, object]] = {}
    yield seen
    if seen:
        SCANS.parent.mkdir(parents=True, exist_ok=True)
        SCANS.write_text(json.dumps(seen, indent=2) + "\n", "utf-8")


def _cookie_mutant(folder: Path, cookie: str) -> Path:
    """A mutant folder whose nginx adds `cookie` to every HTTPS answer."""
    anchor = "add_header X-Request-ID $request_id always;\n\n        proxy_http_version 1.1;"
    spec = (
        'description = "nginx sets a cookie on every HTTPS answer"\nexpects = ["R-HDR-7"]\n\n'
        f'[[edit]]\nfile = "nginx/nginx.conf.template"\nold = """{anchor}"""\n'
        f'new = """add_header Set-Cookie "{cookie}" always;\n        {anchor}"""\n'
    )
    (folder / "mutant.toml").write_text(spec, "utf-8")
    return folder


def _profile(variant: Variant, work: Path) -> Profile:
    if variant.mutant is None and variant.cookie is None:
        return load_profile(REFERENCE)
    folder = ROOT / "mutants" / variant.mutant if variant.mutant else None
    if folder is None:
        folder = _cookie_mutant(work / "mutant", variant.cookie or "")
    base = load_profile(REFERENCE).stack.root
    assert base is not None
    return load_profile(REFERENCE, materialize(load_mutant(folder), base, work / "copy"))


@dataclass(frozen=True)
class Judged:
    scan: Scan
    ours: dict[str, list[str] | None]  # Observatory test -> our problems (None: nothing to check)
    preflight_status: int  # what our CORS preflight of / got


def blind_spot(name: str, result: str, judged: Judged) -> str | None:
    """Where the Observatory cannot see what our check judged, and why (checked, not
    assumed): its CORS preflight goes through an HTTP client that throws on any status but
    2xx, so a grant on a route that answers OPTIONS with 405 is never seen — though a
    browser's simple GET (no preflight) is granted all the same."""
    if (
        name == "cross-origin-resource-sharing"
        and result == "cross-origin-resource-sharing-not-implemented"
        and not 200 <= judged.preflight_status < 300
    ):
        return (
            f"its preflight got {judged.preflight_status}, which its client takes for no "
            "answer; R-HDR-4 judges the GET and the preflight answers as they come"
        )
    return None


def _ours(client: FrontClient, profile: Profile) -> tuple[dict[str, list[str] | None], int]:
    """Our checks on the answers the Observatory judged; our preflight's status."""
    home = Answer(
        "GET /", 200, client.https("GET", "/", headers={"Accept": BROWSER_ACCEPT}), "https", None
    )
    robots = Answer("GET /robots.txt", 404, client.https("GET", "/robots.txt"), "https", None)
    redirect = client.http("GET", "/")
    preflight = client.https(
        "OPTIONS",
        "/",
        headers={"Origin": OBSERVATORY_ORIGIN, "Access-Control-Request-Method": "GET"},
    )
    required = required_header_problems(home, profile)

    def about(header: str) -> list[str]:
        return [p for p in required if p.startswith(header)]

    try:
        cookies: list[str] | None = [
            m for ms in cookie_check([home, robots])[0].found.values() for m in ms
        ]
    except pytest.skip.Exception:
        cookies = None  # no cookie set: nothing to check
    expected = client.front.https_url("/")
    location = redirect.headers.get("location")
    moved = (
        []
        if redirect.status_code == 301 and location == expected
        else [
            f"plain-HTTP GET /: {redirect.status_code} to {location!r}, expected 301 to {expected!r}"
        ]
    )
    grant = cors_grant(preflight, OBSERVATORY_ORIGIN)
    verdicts: dict[str, list[str] | None] = {
        "content-security-policy": csp_problems(home, profile),
        "cookies": cookies,
        "cross-origin-resource-sharing": [grant] if grant else [],
        "redirection": moved,
        "referrer-policy": about("Referrer-Policy"),
        "strict-transport-security": hsts_problems(home, profile),
        "x-content-type-options": about("X-Content-Type-Options"),
        "x-frame-options": about("X-Frame-Options"),
    }  # fmt: skip
    return verdicts, preflight.status_code


@pytest.fixture(scope="module")
def judge(
    observatory: Path,
    tmp_path_factory: pytest.TempPathFactory,
    scans_seen: dict[str, dict[str, object]],
) -> Callable[[Variant], Judged]:
    done: dict[str, Judged] = {}

    def run(variant: Variant) -> Judged:
        if variant.name in done:
            return done[variant.name]
        work = Path(tempfile.mkdtemp(dir=tmp_path_factory.mktemp(variant.name)))
        (work / "mutant").mkdir()
        profile = _profile(variant, work)
        with (
            ProcessBackend().up(
                profile, RunContext(f"observatory-{variant.name}", work / "run"), "main"
            ) as stack,
            FrontClient(stack.public) as client,
        ):
            found = scan(observatory, stack.public)
            ours, preflight_status = _ours(client, profile)
        scans_seen[variant.name] = {
            "grade": found.grade,
            "score": found.score,
            "tests": {name: t["result"] for name, t in found.tests.items()},
        }
        done[variant.name] = Judged(found, ours, preflight_status)
        return done[variant.name]

    return run


def disagreements(judged: Judged) -> tuple[dict[str, str], dict[str, str]]:
    """(explained, unexplained): per Observatory test, where its verdict and ours differ."""
    explained, unexplained = {}, {}
    for name, test in judged.scan.tests.items():
        if name in UNOWNED:
            continue
        if name not in OWNERS:
            unexplained[name] = f"an Observatory test no requirement owns yet: {test['result']}"
            continue
        ours = judged.ours[name]
        theirs_pass = bool(test["pass"])
        ours_fail = bool(ours)  # None (nothing to check) and [] are no finding
        result = str(test["result"])
        if not theirs_pass and not ours_fail:
            unexplained[name] = f"the Observatory fails it ({result}), {OWNERS[name]} " + (
                "has nothing to check" if ours is None else "finds nothing"
            )
        elif theirs_pass and ours_fail:
            why = STRICTER.get(name, {}).get(result) or blind_spot(name, result, judged)
            target = explained if why else unexplained
            target[name] = f"{OWNERS[name]}: {'; '.join(ours or [])} — Observatory {result}" + (
                f" ({why})" if why else ""
            )
    return explained, unexplained


@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: v.name)
def test_the_observatory_agrees_with_our_header_checks(
    variant: Variant, judge: Callable[[Variant], Judged]
) -> None:
    judged = judge(variant)
    explained, unexplained = disagreements(judged)
    assert not unexplained, f"{variant.name}: {json.dumps(unexplained, indent=2)}"
    assert set(explained) == set(variant.stricter), (variant.name, explained)
    failing = {n for n, t in judged.scan.tests.items() if not t["pass"]}
    assert failing == set(variant.failing), (variant.name, judged.scan.tests)
    assert set(judged.scan.tests) <= set(OWNERS) | set(UNOWNED)


def test_the_reference_stack_grades_a_plus(judge: Callable[[Variant], Judged]) -> None:
    judged = judge(VARIANTS[0])
    assert (judged.scan.grade, judged.scan.score >= 100) == ("A+", True), judged.scan.document[
        "scan"
    ]
    assert all(t["pass"] for t in judged.scan.tests.values()), judged.scan.tests
