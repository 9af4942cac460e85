"""The answers of a public front that the header checks look at: one of each kind.

The profile's probes (200, 401, 404, ...), the plain-HTTP redirect, an oversized body (413)
and every health endpoint the front exposes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx

from stackproof.checks.http import FrontClient
from stackproof.profile import Profile


@dataclass(frozen=True, slots=True)
class Answer:
    label: str
    expect: int
    response: httpx.Response
    scheme: Literal["https", "http"]
    service: str | None  # who answered, when the profile says
    health: bool = False  # health answers are deliberately left out of access logs

    @property
    def status_ok(self) -> bool:
        return self.response.status_code == self.expect


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
        response = client.https(
            probe.method, probe.path, headers=probe.headers, content=probe.body or None
        )
        answers.append(Answer(f"probe {name}", probe.expect, response, "https", probe.service))
    if client.front.http is not None:
        response = client.http("GET", "/")
        answers.append(Answer("plain-HTTP redirect", 301, response, "http", profile.public.service))
    response = client.https("POST", profile.public.body_limit_path, content=oversized_body(profile))
    answers.append(Answer("oversized body", 413, response, "https", profile.public.service))
    for service, kind, path in health_paths(profile):
        response = client.https("GET", path)
        answers.append(Answer(f"{service} {kind}", 200, response, "https", service, health=True))
    return answers
