"""Driving a per-client rate limit through the front (R-RL-1, 2; R-HLT-6).

`exhaust` sends the limit's worth of requests from one client, then one more, timing them:
what a client may send within the window, and what the one over the limit gets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from stackproof.checks.evidence import Evidence
from stackproof.checks.http import FrontClient
from stackproof.checks.problems import Problems
from stackproof.errors import PreconditionError
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


def check_exhausted(
    run: Exhausted, profile: Profile, problems: Problems, evidence: Evidence
) -> None:
    """R-RL-1's judgment of one client's run; a run slower than the window cannot judge it."""
    limit = profile.policy.limits.rate_limit_requests
    window = profile.policy.limits.rate_limit_window_s
    evidence.figure("requests_sent_s", run.elapsed_s, "s", objective=window, comparison="<=")
    evidence.figure(
        "requests_allowed", len(run.statuses) - len(run.refused_early), "requests",
        objective=limit, comparison="<=",
    )  # fmt: skip
    if run.elapsed_s >= window:
        raise PreconditionError(
            f"sending {limit + 1} requests took {run.elapsed_s:.1f} s, not within the "
            f"{window:g} s window: the limit cannot be judged (is the front overloaded?)"
        )
    if run.refused_early:
        problems.add("within the limit", f"requests {run.refused_early[:5]} already got 429")
    if unexpected := sorted({s for s in run.statuses if s >= 500}):
        problems.add("within the limit", f"answers {unexpected}: the path must answer normally")
    number = limit + 1
    if run.over.status_code != TOO_MANY:
        problems.add(
            f"request {number}",
            f"status {run.over.status_code} after {run.elapsed_s:.1f} s, expected 429",
        )
        return
    for problem in security_header_problems(run.over, profile):
        problems.add("the 429 answer", problem)
