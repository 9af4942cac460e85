"""TLS and transport of the public front (R-TLS-1..7)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sslyze import ServerScanResult
from sslyze.mozilla_tls_profile.tls_config_checker import (
    MozillaTlsConfiguration,
    ServerNotCompliantWithTlsConfiguration,
    TlsConfigurationEnum,
    check_server_against_tls_configuration,
)
from sslyze.plugins.session_resumption.implementation import TlsResumptionSupportEnum

from stackproof.backends import Stack
from stackproof.checks.answers import oversized_body
from stackproof.checks.evidence import Evidence
from stackproof.checks.http import FrontClient, answer_needed
from stackproof.checks.needs import nothing_to_check
from stackproof.checks.problems import Problems
from stackproof.checks.tls import (
    PYTHON_VERSIONS,
    VERSION_FIELDS,
    accepted_suites,
    handshake,
    peer_certificate,
    resumption,
    scan,
)
from stackproof.profile import Profile

AEAD_ECDHE = re.compile(
    r"^TLS_ECDHE_(RSA|ECDSA)_WITH_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$"
)
WEAK_MARKS = ("CBC", "RC4", "3DES", "DES_", "NULL", "EXPORT", "anon", "_MD5")
VERSION_IN_SERVER = re.compile(r"/\s*\d|\d+\.\d+")


@pytest.fixture(scope="module")
def tls_scan(stack: Stack) -> ServerScanResult:
    return scan(stack.public)


@pytest.mark.requirement("R-TLS-1")
def test_only_tls12_and_tls13_are_accepted(
    stack: Stack, tls_scan: ServerScanResult, profile: Profile, evidence: Evidence
) -> None:
    allowed = set(profile.policy.tls.protocols)
    supported = set(accepted_suites(tls_scan))
    evidence.add("protocols accepted (sslyze)", sorted(supported))
    problems = Problems("protocol versions")
    for version in VERSION_FIELDS:
        if version in supported and version not in allowed:
            problems.add("sslyze", f"{version} handshakes succeed; only {sorted(allowed)} may")
        if version in allowed and version not in supported:
            problems.add("sslyze", f"{version} is refused, but the policy expects it")
    for version in PYTHON_VERSIONS:
        shake = handshake(stack.public, version)
        evidence.add(f"direct handshake {version}", shake.detail)
        if shake.accepted is None:
            continue  # this client cannot speak it; sslyze's view above covers the version
        if shake.accepted != (version in allowed):
            problems.add("handshake", f"{version}: {shake.detail}")
    problems.raise_if_any()


@pytest.mark.requirement("R-TLS-2")
def test_tls12_offers_only_ecdhe_with_aead(tls_scan: ServerScanResult, evidence: Evidence) -> None:
    suites = accepted_suites(tls_scan)
    evidence.add("cipher suites accepted", suites)
    problems = Problems("cipher suites below TLS 1.3")
    for version, names in suites.items():
        if version == "TLSv1.3":
            continue  # every TLS 1.3 suite is AEAD with ephemeral key exchange
        for name in names:
            weak = [mark for mark in WEAK_MARKS if mark in name]
            if weak or not AEAD_ECDHE.match(name):
                reason = f"weak ({', '.join(weak)})" if weak else "not ECDHE with AES-GCM/ChaCha20"
                problems.add(version, f"{name}: {reason}")
    problems.raise_if_any()


@pytest.mark.requirement("R-TLS-3")
def test_mozilla_configuration_profile(
    tls_scan: ServerScanResult, profile: Profile, evidence: Evidence
) -> None:
    wanted = TlsConfigurationEnum(profile.policy.tls.mozilla_profile)
    problems = Problems(f"Mozilla {wanted.value} profile (sslyze)")
    try:
        check_server_against_tls_configuration(tls_scan, MozillaTlsConfiguration.get(wanted))
    except ServerNotCompliantWithTlsConfiguration as finding:
        for key, issue in finding.issues.items():
            problems.add(key, issue)
    evidence.add("Mozilla profile issues", problems.found)
    problems.raise_if_any()


@pytest.mark.requirement("R-TLS-4")
def test_session_tickets_off_and_session_cache_on(
    stack: Stack, tls_scan: ServerScanResult, evidence: Evidence
) -> None:
    """Tickets off guards the forward secrecy of TLS 1.2 session tickets (sealed with a key
    that, once stolen, opens every recorded session); the cache on means sessions resume.
    sslyze judges both over TLS 1.2. A front that refuses TLS 1.2 issues no TLS 1.2 ticket,
    and resumes TLS 1.3 sessions with tickets of its own (stateful ones, looked up in its
    cache, when stateless tickets are off): there, tickets pass on the refusal sslyze saw,
    and the cache is judged by resuming TLS 1.3 sessions."""
    assert tls_scan.scan_result is not None
    resumption_scan = tls_scan.scan_result.session_resumption.result
    assert resumption_scan is not None
    tickets = resumption_scan.tls_ticket_resumption_result
    session_ids = resumption_scan.session_id_resumption_result
    evidence.add(
        "session resumption over TLS 1.2 (sslyze)",
        {
            "tickets": tickets.name,
            "session_ids": session_ids.name,
            "session_id_resumed": f"{resumption_scan.session_id_successful_resumptions_count}"
            f"/{resumption_scan.session_id_attempted_resumptions_count}",
        },
    )
    problems = Problems("TLS session resumption")
    tls13_only = TlsResumptionSupportEnum.SERVER_IS_TLS_1_3_ONLY
    if tickets == tls13_only and session_ids == tls13_only:
        supported = sorted(accepted_suites(tls_scan))
        problems.expect(
            "TLSv1.2" not in supported,
            "tickets",
            f"sslyze found the server TLS 1.3-only, yet it accepts {supported}",
        )
        resumed = resumption(stack.public, "TLSv1.3")
        evidence.add(
            "session resumption over TLS 1.3",
            {
                "resumed": f"{resumed.resumed}/{resumed.attempted}",
                "ticket_lifetime_s": resumed.ticket_lifetime_s,
                "tickets": "no TLS 1.2: no TLS 1.2 session ticket can be issued",
            },
        )
        problems.expect(
            resumed.resumed == resumed.attempted,
            "cache",
            f"TLS 1.3 sessions do not resume ({resumed.resumed} of {resumed.attempted}): "
            "the session cache is off or broken",
        )
        problems.raise_if_any()
        return
    problems.expect(
        tickets == TlsResumptionSupportEnum.NOT_SUPPORTED,
        "tickets",
        f"session tickets are on ({tickets.name})",
    )
    problems.expect(
        session_ids == TlsResumptionSupportEnum.FULLY_SUPPORTED,
        "cache",
        f"the session cache does not resume sessions ({session_ids.name})",
    )
    problems.raise_if_any()


def _redirect_paths(profile: Profile) -> list[str]:
    probe_paths = [probe.path for probe in profile.probes.values()]
    odd = ["/", "/stackproof/deep/path/", "/search?q=anime&page=2", "/%7Euser/a%20b"]
    acme = profile.public.acme_challenge_prefix
    return [p for p in dict.fromkeys([*odd, *probe_paths]) if not p.startswith(acme)]


@pytest.mark.requirement("R-TLS-5")
def test_plain_http_redirects_to_the_same_path_on_https(
    front: FrontClient, profile: Profile
) -> None:
    if front.front.http is None:
        nothing_to_check(
            "the profile gives no plain-HTTP address to check",
            enable="public.http_port (public.remote.http_url on a remote stack)",
        )
    problems = Problems("plain HTTP")
    for path in _redirect_paths(profile):
        for method in ("GET", "HEAD", "POST"):
            with answer_needed(f"{method} {path} over plain HTTP"):
                response = front.http(method, path)
            expected = front.front.https_url(path)
            if response.status_code != 301:
                problems.add(path, f"{method} {path}: {response.status_code}, expected 301")
            elif response.headers.get("location") != expected:
                problems.add(
                    path,
                    f"{method} {path}: Location {response.headers.get('location')!r}, "
                    f"expected {expected!r}",
                )
    problems.raise_if_any()


@pytest.mark.requirement("R-TLS-6")
def test_certificate_names_the_host_and_is_not_about_to_expire(
    stack: Stack, profile: Profile, evidence: Evidence
) -> None:
    certificate = peer_certificate(stack.public)
    days_left = (certificate.not_after - dt.datetime.now(dt.UTC)).total_seconds() / 86400
    minimum = profile.policy.tls.min_days_valid
    evidence.add(
        "certificate",
        {
            "host": stack.public.host,
            "not_after": certificate.not_after.isoformat(),
            "verification": certificate.name_error or "ok",
        },
    )
    evidence.figure("certificate_days_left", days_left, "days", objective=minimum, comparison=">=")
    problems = Problems("certificate")
    problems.expect(
        certificate.names_match,
        "name",
        f"not valid for {stack.public.host}: {certificate.name_error}",
    )
    problems.expect(
        days_left > minimum,
        "expiry",
        f"expires in {days_left:.1f} days (must be more than {minimum})",
    )
    problems.raise_if_any()


@pytest.mark.requirement("R-TLS-7")
def test_server_header_carries_no_version(front: FrontClient, profile: Profile) -> None:
    problems = Problems("Server header")
    responses = []
    for scheme, path in (("https", "/"), ("https", "/stackproof/no-such-page"), ("http", "/")):
        if scheme == "http" and front.front.http is None:
            continue
        with answer_needed(f"GET {path} over {scheme}"):
            send = front.https if scheme == "https" else front.http
            responses.append(send("GET", path))
    for response in responses:
        server = response.headers.get("server", "")
        where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
        problems.expect(
            not VERSION_IN_SERVER.search(server), "header", f"{where}: Server: {server}"
        )
        problems.expect(
            not re.search(r"nginx/\d|Apache/\d|uvicorn/\d", response.text),
            "body",
            f"{where}: the body names a server version",
        )
    problems.raise_if_any()


@pytest.mark.requirement("R-TLS-7")
def test_request_bodies_over_the_limit_get_413(front: FrontClient, profile: Profile) -> None:
    limit = profile.policy.limits.max_body_bytes
    path = profile.public.body_limit_path
    with answer_needed(f"POST {path} with {limit + 1} bytes"):
        over = front.https("POST", path, content=oversized_body(profile))
    with answer_needed(f"POST {path} with {limit} bytes"):
        at_limit = front.https("POST", path, content=b"x" * limit)
    problems = Problems(f"request body limit of {limit} bytes")
    problems.expect(
        over.status_code == 413, "over", f"{limit + 1} bytes: {over.status_code}, expected 413"
    )
    problems.expect(
        at_limit.status_code != 413, "at", f"exactly {limit} bytes were refused with 413"
    )
    problems.raise_if_any()
