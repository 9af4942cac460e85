"""Time to detect and time to recover: a readiness endpoint sampled through one fault.

    recorder = FaultRecorder(endpoint, "down", "bot-postgres", interval_s=0.1, timeout_s=4)
    with faults.down("bot-postgres"):
        recorder.begin()                       # the fault is in place: t = 0
        recorder.until(UNREADY, within_s=5)    # detected (None: not within 5 s)
    recorder.removed()                         # the fault is gone
    recorder.until(READY, within_s=5)          # recovered
    evidence.timeline(recorder.timeline(...))

Every look is kept as a sample (seconds, status), so the report can draw the whole course.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection

from stackproof.checks.health import HealthEndpoint
from stackproof.errors import ServiceStartError
from stackproof.readiness import Check, wait_for
from stackproof.results.model import Timeline

READY: frozenset[int | None] = frozenset({200})
UNREADY: frozenset[int | None] = frozenset({503})
UNREADY_AT_FRONT: frozenset[int | None] = frozenset({500, 502, 503, 504})


class _Sample:
    """A condition: the endpoint answers one of `statuses`; records every look."""

    def __init__(self, recorder: FaultRecorder, statuses: Collection[int | None]) -> None:
        self.recorder = recorder
        self.statuses = statuses
        self.description = f"{recorder.endpoint.url} answers {sorted(map(str, statuses))}"
        self.hit: float | None = None

    def check(self) -> Check:
        status, at = self.recorder.sample()
        if status in self.statuses:
            self.hit = at
            return Check(True, f"status {status}")
        return Check(False, f"status {status}" if status is not None else "no answer")


class FaultRecorder:
    def __init__(
        self,
        endpoint: HealthEndpoint,
        fault: str,
        target: str,
        *,
        interval_s: float,
        timeout_s: float,
    ) -> None:
        self.endpoint = endpoint
        self.fault = fault
        self.target = target
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.samples: list[tuple[float, int | None]] = []
        self.detected_s: float | None = None
        self.removed_s: float | None = None
        self.recovered_s: float | None = None
        self._t0: float | None = None

    def begin(self) -> None:
        self._t0 = time.monotonic()

    def _now(self) -> float:
        if self._t0 is None:
            raise RuntimeError("begin() first: the fault's start is t = 0")
        return time.monotonic() - self._t0

    def sample(self) -> tuple[int | None, float]:
        """One GET; (status or None, seconds from the start at the answer)."""
        response, _, _ = self.endpoint.get(timeout_s=self.timeout_s)
        status = response.status_code if response is not None else None
        at = round(self._now(), 3)
        self.samples.append((at, status))
        return status, at

    def until(self, statuses: Collection[int | None], within_s: float) -> float | None:
        """Seconds from the start until the endpoint answered one of `statuses`."""
        condition = _Sample(self, statuses)
        try:
            wait_for(
                condition,
                timeout_s=within_s,
                what=f"{self.endpoint.service} {self.endpoint.kind}",
                interval_s=self.interval_s,
            )
        except ServiceStartError:
            return None
        return condition.hit

    def detect(self, statuses: Collection[int | None], within_s: float) -> float | None:
        self.detected_s = self.until(statuses, within_s)
        return self.detected_s

    def removed(self) -> None:
        self.removed_s = round(self._now(), 3)

    def recover(self, within_s: float) -> float | None:
        """Seconds from the removal until readiness answered 200 again."""
        hit = self.until(READY, within_s)
        if hit is not None and self.removed_s is not None:
            self.recovered_s = round(max(0.0, hit - self.removed_s), 3)
        return self.recovered_s

    def timeline(
        self, *, detect_objective_s: float | None, recover_objective_s: float | None, test: str
    ) -> Timeline:
        return Timeline(
            fault=self.fault,
            target=self.target,
            observed=self.endpoint.service,
            detected_s=self.detected_s,
            removed_s=self.removed_s,
            recovered_s=self.recovered_s,
            detect_objective_s=detect_objective_s,
            recover_objective_s=recover_objective_s,
            samples=tuple(self.samples),
            test=test,
        )


class _Observe:
    """A condition that never holds: each look asks every endpoint once and notes it."""

    description = "an observation window"

    def __init__(self, endpoints: list[HealthEndpoint], timeout_s: float) -> None:
        self.endpoints = endpoints
        self.timeout_s = timeout_s
        self.seen: dict[str, list[int | None]] = {e.url: [] for e in endpoints}

    def check(self) -> Check:
        for endpoint in self.endpoints:
            response, _, _ = endpoint.get(timeout_s=self.timeout_s)
            self.seen[endpoint.url].append(response.status_code if response else None)
        return Check(False, "observing")


def observe(
    endpoints: list[HealthEndpoint], window_s: float, interval_s: float, timeout_s: float = 2.0
) -> dict[str, list[int | None]]:
    """Every status each endpoint answered during `window_s` (by URL): for claims that must
    hold throughout a fault, not just at one moment."""
    watch = _Observe(endpoints, timeout_s)
    with contextlib.suppress(ServiceStartError):  # the window closes, as it always does
        wait_for(watch, timeout_s=window_s, what="observation", interval_s=interval_s)
    return watch.seen
