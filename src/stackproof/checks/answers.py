"""The answers of a public front that the header checks look at, and how their headers are
judged (R-HDR-1..3, 5, 6, 7).

The profile's probes (200, 401, 404, ...), the plain-HTTP redirect, an oversized body (413)
and every health endpoint the front exposes. The checks judge headers only: an answer whose
status is not the one the profile expects is judged as the answer it is (its status is
R-TLS-5's or R-TLS-7's finding, or the probe's), and one that cannot be had at all keeps
them from judging (`PreconditionError`).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass
from typing import Literal

import httpx

from stackproof.backends import Stack
from stackproof.checks import csp
from stackproof.checks.cookies import cookie_problems, set_cookies
from stackproof.checks.http import FrontClient, answer_needed
from stackproof.checks.needs import nothing_to_check
from stackproof.checks.oauth import LinkFlow
from stackproof.checks.problems import Problems
from stackproof.checks.ratelimit import exhaust
from stackproof.errors import CapabilityMissingError, PreconditionError
from stackproof.fakes.discord import Snowflakes
from stackproof.profile import Profile

HSTS_MAX_AGE = re.compile(r"max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Answer:
    label: str
    expect: int
    response: httpx.Response
    scheme: Literal["https", "http"]
    service: str | None  # who answered, when the profile says
    health: bool = False  # health answers are deliberately left out of access logs

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def status_ok(self) -> bool:
        return self.status == self.expect


def oversized_body(profile: Profile) -> bytes:
    return b"x" * (profile.policy.limits.max_body_bytes + 1)


def health_paths(profile: Profile) -> list[tuple[str, str, str]]:
    """(service, kind, public path) of every health endpoint the front exposes."""
    found = []
    for name, service in profile.services.items():
        prefix = service.health.public_prefix
        if prefix is None:
            continue
        for kind, path in (
            ("liveness", service.health.liveness),
            ("readiness", service.health.readiness),
        ):
            if path is not None:
                found.append((name, kind, prefix.rstrip("/") + path))
    return found


def front_answers(client: FrontClient, profile: Profile) -> list[Answer]:
    answers = []
    for name, probe in profile.probes.items():
        label = f"probe {name}"
        with answer_needed(f"{label} ({probe.method} {probe.path})"):
            response = client.https(
                probe.method, probe.path, headers=probe.headers, content=probe.body or None
            )
        answers.append(Answer(label, probe.expect, response, "https", probe.service))
    if client.front.http is not None:
        with answer_needed("plain-HTTP redirect (GET / over plain HTTP)"):
            response = client.http("GET", "/")
        answers.append(Answer("plain-HTTP redirect", 301, response, "http", profile.public.service))
    path = profile.public.body_limit_path
    with answer_needed(f"oversized body (POST {path})"):
        response = client.https("POST", path, content=oversized_body(profile))
    answers.append(Answer("oversized body", 413, response, "https", profile.public.service))
    for service, kind, path in health_paths(profile):
        with answer_needed(f"{service} {kind} (GET {path})"):
            response = client.https("GET", path)
        answers.append(Answer(f"{service} {kind}", 200, response, "https", service, health=True))
    return answers


def past_the_rate_limit(client: FrontClient, profile: Profile) -> Answer | None:
    """The answer to a client past the per-client limit (429), where the profile names a
    rate-limited path. `client` must be one of its own: its count is spent."""
    auth = profile.auth
    if auth is None or auth.rate_limited_path is None:
        return None
    path = auth.rate_limited_path
    with answer_needed(f"requests past the rate limit (GET {path})"):
        run = exhaust(client, path, profile.policy.limits.rate_limit_requests)
    return Answer("past the rate limit", 429, run.over, "https", auth.service)


_LINKING_USERS = Snowflakes(worker=11)


def oauth_answers(stack: Stack, client: FrontClient, profile: Profile) -> list[Answer]:
    """The answers of the OAuth linking flow of `[auth.oauth]`, where a service would set
    its cookies: a start and a callback it refuses, and, where the stack's context key can
    be had, a link made from start through the provider to the callback."""
    auth = profile.auth
    if auth is None or auth.oauth is None:
        return []
    oauth = auth.oauth
    found = []
    for label, path in (("start", oauth.start_path), ("callback", oauth.callback_path)):
        with answer_needed(f"OAuth {label} without parameters (GET {path})"):
            response = client.https("GET", path)
        found.append(
            Answer(f"OAuth {label} without parameters", 400, response, "https", auth.service)
        )
    try:
        key = stack.secret(oauth.context_key_secret)
    except CapabilityMissingError:
        return found  # no context token can be signed: the refused answers are all there is
    flow = LinkFlow(stack, oauth, client, key)
    try:
        with answer_needed(f"OAuth start (GET {oauth.start_path})"):
            start = flow.start(flow.token(_LINKING_USERS.next()))
        found.append(Answer("OAuth start", 302, start, "https", auth.service))
        location = start.headers.get("location")
        if start.status_code not in (302, 303) or not location:
            raise PreconditionError(
                f"the OAuth start answered {start.status_code} to a valid context token, not "
                "a redirect to the provider: the callback, which may set cookies, cannot be "
                "reached (R-OAUTH-1 judges the start)"
            )
        try:
            approved = flow.authorize(location, f"stackproof-{secrets.token_hex(4)}")
        except (AssertionError, httpx.TransportError) as error:
            raise PreconditionError(f"the provider did not approve the link: {error}") from error
        with answer_needed(f"OAuth callback (GET {oauth.callback_path})"):
            found.append(
                Answer("OAuth callback", 200, flow.callback(approved), "https", auth.service)
            )
    finally:
        flow.close()
    return found


def cors_grant(response: httpx.Response, origin: str) -> str | None:
    """R-HDR-4 on one answer to a request from `origin`: the access it grants that origin."""
    granted = response.headers.get("access-control-allow-origin")
    if granted is None or granted.strip() not in ("*", origin, "null"):
        return None
    credentials = response.headers.get("access-control-allow-credentials", "")
    return f"Access-Control-Allow-Origin: {granted} (credentials: {credentials or 'no'})"


def other_statuses(answers: list[Answer]) -> list[str]:
    """Answers whose status is not the profile's: judged as they came, listed for evidence."""
    return [f"{a.label}: {a.status} (expected {a.expect})" for a in answers if not a.status_ok]


# --- judging their headers ------------------------------------------------------------------

ENABLE_PROBES = "probes of the front in the profile ([probes.<name>])"


def _normal(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip()).lower()


def hsts_problems(answer: Answer, profile: Profile) -> list[str]:
    policy = profile.policy.headers
    value = answer.response.headers.get("strict-transport-security")
    if value is None:
        return ["Strict-Transport-Security is missing"]
    found = []
    match = HSTS_MAX_AGE.search(value)
    if match is None or int(match.group(1)) < policy.hsts_min_age:
        found.append(f"Strict-Transport-Security {value!r}: max-age below {policy.hsts_min_age}")
    if policy.hsts_include_subdomains and "includesubdomains" not in value.lower():
        found.append(f"Strict-Transport-Security {value!r}: no includeSubDomains")
    return found


def required_header_problems(answer: Answer, profile: Profile) -> list[str]:
    found = []
    for name, wanted in profile.policy.headers.required.items():
        value = answer.response.headers.get(name)
        if value is None:
            found.append(f"{name} is missing")
        elif _normal(value) != _normal(wanted):
            found.append(f"{name}: {value!r}, expected {wanted!r}")
    return found


def _of_the_https_front(answers: list[Answer], *, kind: str, enable: str) -> list[Answer]:
    """The HTTPS answers a check judges. The plain-HTTP listener only redirects (R-TLS-5):
    browsers ignore HSTS over plain HTTP (RFC 6797 §8.1), and R-HDR-3 does not list it."""
    chosen = [a for a in answers if a.scheme == "https"]
    if not chosen:
        nothing_to_check(f"no {kind}answer of the HTTPS front to judge", enable=enable)
    return chosen


def hsts_check(answers: list[Answer], profile: Profile) -> Problems:
    """R-HDR-1: HSTS on every HTTPS answer."""
    problems = Problems("Strict-Transport-Security")
    for answer in _of_the_https_front(answers, kind="", enable=ENABLE_PROBES):
        for problem in hsts_problems(answer, profile):
            problems.add(f"{answer.label} ({answer.status})", problem)
    return problems


def success_headers_check(answers: list[Answer], profile: Profile) -> Problems:
    """R-HDR-2: the security headers on successful answers (by the status they came with)."""
    problems = Problems("security headers on 2xx answers")
    successful = [a for a in answers if 200 <= a.status < 300]
    enable = "a probe the front answers with 2xx ([probes.<name>] expect = 200)"
    for answer in _of_the_https_front(successful, kind="2xx ", enable=enable):
        for problem in required_header_problems(answer, profile):
            problems.add(f"{answer.label} ({answer.status})", problem)
    return problems


def error_headers_check(answers: list[Answer], profile: Profile) -> Problems:
    """R-HDR-3: the same headers on error and health answers of the HTTPS front."""
    problems = Problems("security headers on error and health answers")
    chosen = [a for a in answers if a.status >= 300 or a.health]
    enable = f"{ENABLE_PROBES} expecting 4xx, or health.public_prefix"
    for answer in _of_the_https_front(chosen, kind="error or health ", enable=enable):
        for problem in required_header_problems(answer, profile) + hsts_problems(answer, profile):
            problems.add(f"{answer.label} ({answer.status})", problem)
    return problems


def request_ids(answer: Answer, header: str) -> list[str]:
    """Every request ID the answer carries: a field sent twice, or one value holding two
    joined by a comma (httpx joins repeated fields as "a, b"), gives two."""
    values = answer.response.headers.get_list(header, split_commas=True)
    return [value.strip() for value in values if value.strip()]


def _loggers(request_id: str, logs: dict[str, str]) -> list[str]:
    return [name for name, text in logs.items() if request_id in text]


def request_id_check(
    answers: list[Answer], profile: Profile, logs: dict[str, str] | None = None
) -> Problems:
    """R-HDR-5: every answer carries exactly one request ID, its own. With the services'
    `logs`, an answer with several IDs says which service logged which."""
    header = profile.policy.headers.request_id
    if not answers:
        nothing_to_check("no answer of the front to look at", enable=ENABLE_PROBES)
    problems = Problems(f"{header} on answers")
    seen: dict[str, str] = {}
    for answer in answers:
        found = request_ids(answer, header)
        if not found:
            problems.add(answer.label, f"no {header}")
        elif len(set(found)) > 1:
            named = [
                f"{i} (logged by {', '.join(_loggers(i, logs)) or 'no service'})" if logs else i
                for i in found
            ]
            problems.add(answer.label, f"{len(found)} request IDs: {', '.join(named)}")
        elif len(found) > 1:
            problems.add(answer.label, f"{header} sent {len(found)} times ({found[0]})")
        for request_id in dict.fromkeys(found):
            if request_id in seen:
                problems.add(
                    answer.label, f"{header} {request_id} repeats the one of {seen[request_id]}"
                )
            else:
                seen[request_id] = answer.label
    return problems


def request_id_log_check(
    answers: list[Answer], profile: Profile, logs: dict[str, str]
) -> tuple[Problems, dict[str, list[str]]]:
    """R-HDR-5: each request ID an answer carries is in a log line of the service that
    answered; also the log lines found, per answer, for the evidence."""
    header = profile.policy.headers.request_id
    problems = Problems(f"{header} in service logs")
    found: dict[str, list[str]] = {}
    # Health answers stay out of logs (R-HLT-6); an answer without an ID fails the check above.
    looked_up = [a for a in answers if not a.health and request_ids(a, header)]
    if not looked_up:
        nothing_to_check(
            f"no answer outside the health endpoints carried a {header} to look up",
            enable=ENABLE_PROBES,
        )
    for answer in looked_up:
        services = [answer.service] if answer.service else list(logs)
        who = answer.service or "any service"
        request = answer.response.request
        for request_id in request_ids(answer, header):
            lines = [
                line for name in services for line in logs[name].splitlines() if request_id in line
            ]
            found.setdefault(answer.label, []).extend(lines[:3])
            if lines:
                continue
            elsewhere = [n for n in _loggers(request_id, logs) if n not in services]
            problems.add(
                answer.label,
                f"{request_id} ({request.method} {request.url.path}) is in no log line of {who}"
                + (f" ({', '.join(elsewhere)} logged it)" if elsewhere else ""),
            )
    return problems, found


def csp_problems(answer: Answer, profile: Profile) -> list[str]:
    """R-HDR-6 on one answer: its enforced policy against the profile's."""
    headers = answer.response.headers
    values = headers.get_list("content-security-policy")
    found = csp.policy_problems(
        values, csp.parse_policy(profile.policy.headers.content_security_policy)
    )
    if not values and "content-security-policy-report-only" in headers:
        found.append("only Content-Security-Policy-Report-Only, which browsers do not enforce")
    return found


def csp_check(answers: list[Answer], profile: Profile) -> Problems:
    """R-HDR-6: every API answer of the HTTPS front carries a policy at least as strict as
    the profile's (the catalog's unless tightened). A problem several answers share is
    said once, naming them all."""
    required = profile.policy.headers.content_security_policy
    judged = _of_the_https_front(answers, kind="", enable=ENABLE_PROBES)
    where: dict[str, list[str]] = {}
    for answer in judged:
        for problem in csp_problems(answer, profile):
            where.setdefault(problem, []).append(f"{answer.label} ({answer.status})")
    problems = Problems(f"Content-Security-Policy (at least {required!r})")
    for problem, labels in where.items():
        key = f"all {len(judged)} answers" if len(labels) == len(judged) > 1 else ", ".join(labels)
        problems.add(key, problem)
    return problems


ENABLE_COOKIES = (
    "a service that sets cookies on the answers the suite drives: the probes ([probes.<name>]), "
    "the health endpoints, the OAuth flow ([auth.oauth])"
)


def cookie_check(
    answers: list[Answer], now: dt.datetime | None = None
) -> tuple[Problems, dict[str, list[str]]]:
    """R-HDR-7: every cookie set on these answers is Secure, HttpOnly and SameSite=Lax or
    Strict; also every Set-Cookie seen (values withheld), per answer, for the evidence. A
    Set-Cookie that removes a cookie sets none; with no cookie set at all, nothing to check."""
    moment = now or dt.datetime.now(dt.UTC)
    problems = Problems("cookies set by the stack")
    seen: dict[str, list[str]] = {}
    judged = 0
    for answer in answers:
        key = f"{answer.label} ({answer.status})"
        for cookie in set_cookies(answer.response):
            removes = cookie.removes(moment)
            seen.setdefault(key, []).append(cookie.shown + (" (removes it)" if removes else ""))
            if removes:
                continue
            judged += 1
            if found := cookie_problems(cookie):
                problems.add(key, f"cookie {cookie.name or '(no name)'!r}: {', '.join(found)}")
    if not judged:
        nothing_to_check(
            f"no answer of the {len(answers)} looked at set a cookie"
            + (f" ({sum(map(len, seen.values()))} Set-Cookie removed one)" if seen else ""),
            enable=ENABLE_COOKIES,
        )
    return problems, seen
