"""Reaching a service's health endpoints, and timing how readiness follows its dependencies."""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal

import httpx

from stackproof.backends.base import Stack
from stackproof.checks.evidence import Evidence
from stackproof.checks.http import certificate_rejection, trust, unverified
from stackproof.checks.problems import Problems
from stackproof.errors import CapabilityMissingError, PreconditionError, ServiceStartError
from stackproof.readiness import Check, Condition, wait_for

HealthKind = Literal["liveness", "readiness"]


@dataclass(frozen=True, slots=True)
class HealthEndpoint:
    """A service's health path. `url` names it as the world does (reports); a path through
    the public front is reached at the front's address (`connect_url`) with the public
    name in `Host` and SNI, as `curl --resolve` does — the name need not resolve here."""

    service: str
    kind: HealthKind
    url: str
    verify: bool | ssl.SSLContext
    connect_url: str | None = None
    host: str | None = None
    sni: str | None = None

    def request(self, timeout_s: float, headers: dict[str, str] | None = None) -> httpx.Response:
        """One GET; httpx's errors as they come."""
        sent = {**({"Host": self.host} if self.host else {}), **(headers or {})}
        extensions = {"sni_hostname": self.sni} if self.sni else None
        with httpx.Client(verify=self.verify, timeout=timeout_s) as client:
            return client.get(self.connect_url or self.url, headers=sent, extensions=extensions)

    def get(self, timeout_s: float) -> tuple[httpx.Response | None, float, str | None]:
        """(response or None, seconds taken, error) — a timeout is an answer too."""
        started = time.monotonic()
        try:
            response = self.request(timeout_s)
        except httpx.HTTPError as error:
            return None, time.monotonic() - started, f"{type(error).__name__}: {error}"
        return response, time.monotonic() - started, None

    def answer(self, timeout_s: float) -> tuple[httpx.Response | None, float, str | None]:
        """As `get`, for a check that needs the endpoint reachable: a connection that cannot
        be made (refused, nothing listening) keeps the check from judging
        (`PreconditionError`), while an answer that is late or cut off is still one. A
        certificate the client rejects is R-TLS-3's and R-TLS-6's finding: the endpoint is
        then asked again without verifying it, as `curl -k` would."""
        started = time.monotonic()
        try:
            response = self.request(timeout_s)
        except httpx.ConnectError as error:
            if certificate_rejection(error) is not None and self.verify is not False:
                return replace(self, verify=unverified()).answer(timeout_s)
            raise PreconditionError(
                f"{self.service} {self.kind} at {self.url} cannot be reached: {error}"
            ) from error
        except httpx.HTTPError as error:
            return None, time.monotonic() - started, f"{type(error).__name__}: {error}"
        return response, time.monotonic() - started, None

    def answers(
        self, statuses: set[int], timeout_s: float = 1.0, body: str | None = None
    ) -> Condition:
        """A readiness condition: the endpoint answers one of `statuses` (with `body`, if
        given, exactly)."""
        return _Answers(self, frozenset(statuses), timeout_s, body)

    def await_status(
        self, statuses: set[int], timeout_s: float, interval_s: float, body: str | None = None
    ) -> float | None:
        """Seconds until the endpoint answers one of `statuses` (and `body`, if given);
        None if it never did."""
        try:
            return wait_for(
                self.answers(statuses, body=body),
                timeout_s=timeout_s,
                what=f"{self.service} {self.kind}",
                interval_s=interval_s,
            )
        except ServiceStartError:
            return None


@dataclass(frozen=True, slots=True)
class StatusClock:
    """Times an endpoint's way to a status against its objective: the seconds it took are
    a figure (with the objective beside them), a status that never came within the
    objective is a problem under the check's key. The time is evidence, never asserted."""

    problems: Problems
    evidence: Evidence
    interval_s: float

    def until(
        self,
        endpoint: HealthEndpoint,
        statuses: set[int],
        within_s: float,
        *,
        key: str,
        missed: str,
        figure: str,
        body: str | None = None,
    ) -> float | None:
        """Seconds until `endpoint` answered one of `statuses` (with `body` exactly, if
        given), recorded as `figure` (in s); None, with `missed` added under `key`, when it
        did not within `within_s`."""
        took = endpoint.await_status(statuses, within_s, self.interval_s, body)
        if took is None:
            self.problems.add(key, missed)
        else:
            self.evidence.figure(figure, took, "s", objective=within_s, comparison="<=")
        return took


@dataclass(frozen=True, slots=True)
class _Answers:
    endpoint: HealthEndpoint
    statuses: frozenset[int]
    timeout_s: float
    body: str | None = None

    @property
    def description(self) -> str:
        wanted = "/".join(str(s) for s in sorted(self.statuses))
        return f"GET {self.endpoint.url} answers {wanted}" + (
            "" if self.body is None else f" with {self.body[:80]!r}"
        )

    def check(self) -> Check:
        response, _, error = self.endpoint.get(self.timeout_s)
        if response is None:
            return Check(False, str(error))
        seen = f"status {response.status_code}"
        if self.body is not None and response.text != self.body:
            return Check(False, f"{seen}, body {response.text[:80]!r}")
        return Check(response.status_code in self.statuses, seen)


def names_dependency(body: str, dependency: str) -> bool:
    """Whether a health body names `dependency` (in its JSON, or its text if it is none)."""
    try:
        text = json.dumps(json.loads(body))
    except ValueError:
        text = body
    return dependency.lower() in text.lower()


def degradation_unreported(body: str, steady_body: str, dependency: str) -> str | None:
    """Why a readiness body does not report `dependency` degraded (R-HLT-5): it must name it
    and say something else than it said with every dependency up; None when it does."""
    if names_dependency(body, dependency) and body != steady_body:
        return None
    return f"the readiness body does not report {dependency} degraded: {body[:200]}"


def health_endpoint(stack: Stack, service: str, kind: HealthKind) -> HealthEndpoint:
    """Directly on the service where the backend can reach it, else through the front."""
    path = _health_path(stack, service, kind)
    try:
        return HealthEndpoint(service, kind, stack.service(service).base_url() + path, False)
    except CapabilityMissingError:
        if stack.profile.services[service].health.public_prefix is None:
            raise
    return front_health_endpoint(stack, service, kind)


def front_health_endpoint(stack: Stack, service: str, kind: HealthKind) -> HealthEndpoint:
    """The service's health path as the world reaches it: through the public front, trusting
    the front's CA; ValueError when the profile exposes none there."""
    prefix = stack.profile.services[service].health.public_prefix
    if prefix is None:
        raise ValueError(f"the profile exposes no {kind} of {service} through the front")
    path = join_path(prefix, _health_path(stack, service, kind))
    front = stack.public
    return HealthEndpoint(
        service,
        kind,
        front.https_url(path),
        trust(front),
        connect_url=front.https.url("https", path),
        host=front.https_authority,
        sni=front.host,
    )


def join_path(prefix: str, path: str) -> str:
    """`/auth` + `/healthz` → `/auth/healthz`; `/` + `/healthz` → `/healthz` (one slash)."""
    return "/" + "/".join(part for part in (prefix.strip("/"), path.lstrip("/")) if part)


def _health_path(stack: Stack, service: str, kind: HealthKind) -> str:
    health = stack.profile.services[service].health
    path = health.liveness if kind == "liveness" else health.readiness
    if path is None:
        raise ValueError(f"the profile gives {service} no {kind} path")
    return path


def dependants(stack: Stack, dependency: str) -> list[str]:
    """Services with a readiness endpoint that count `dependency` as hard."""
    return [
        name
        for name, service in stack.profile.services.items()
        if service.health.readiness and dependency in service.health.hard_dependencies
    ]


def hard_dependencies(stack: Stack) -> list[str]:
    return sorted(
        {
            d
            for s in stack.profile.services.values()
            if s.health.readiness
            for d in s.health.hard_dependencies
        }
    )


def health_line_pattern(paths: Iterable[str]) -> re.Pattern[str] | None:
    """A log line naming one of `paths` (a path, not a longer one it begins); None for no
    paths, since an empty alternation would match every line."""
    alternatives = [rf"(?<![\w/]){re.escape(p)}(?![\w/])" for p in sorted(set(paths))]
    return re.compile("|".join(alternatives)) if alternatives else None
