"""Driving a per-client rate limit through the front (R-RL-1, 2; R-HLT-6).

`exhaust` sends the limit's worth of requests from one client, then one more, timing them:
what a client may send within the window, and what the one over the limit gets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from stackproof.checks.http import FrontClient
from stackproof.profile import Profile

TOO_MANY = 429
Headers = Callable[[int], dict[str, str]]


@dataclass(frozen=True)
class Exhausted:
    statuses: tuple[int, ...]  # of the `limit` requests the client may send
    over: httpx.Response  # the one past the limit
    elapsed_s: float  # from the first request to the answer past the limit

    @property
    def refused_early(self) -> list[int]:
        """1-based numbers of requests within the limit that got 429."""
        return [n for n, status in enumerate(self.statuses, 1) if status == TOO_MANY]


def exhaust(
    client: FrontClient, path: str, limit: int, headers: Headers | None = None
) -> Exhausted:
    """`limit` requests to `path`, then one more; `headers(n)` adds headers to the n-th."""
    statuses = []
    started = time.monotonic()
    for number in range(1, limit + 1):
        sent = headers(number) if headers else None
        statuses.append(client.https("GET", path, headers=sent).status_code)
    over = client.https("GET", path, headers=headers(limit + 1) if headers else None)
    return Exhausted(tuple(statuses), over, time.monotonic() - started)


def security_header_problems(response: httpx.Response, profile: Profile) -> list[str]:
    """The headers of R-HDR-3 a refusal must carry too (nginx `add_header ... always`)."""
    return [
        f"{name} is missing"
        for name in (*profile.policy.headers.required, "Strict-Transport-Security")
        if name not in response.headers
    ]
