"""Watch a service while an operation runs: its readiness, its identity, its release."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

import httpx

from stackproof.backends.base import Stack
from stackproof.checks.health import health_endpoint

INTERVAL_S = 0.1
TIMEOUT_S = 3.0
# The watcher says who it is, so a service that logs its probes can tell them from the
# probes of the operation being watched.
USER_AGENT = "stackproof-watcher"


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # monotonic
    status: int | None  # None: no answer
    identity: str | None  # the service's restart identity (None: not running)
    release: str | None
    timed_out: bool = False  # no answer in time: slow (a loaded machine), not refused


class ServiceWatcher:
    """Samples readiness every `interval_s` in a thread, from `with` to its end."""

    def __init__(
        self,
        stack: Stack,
        service: str,
        release_of: Callable[[str | None], str | None] = lambda workdir: None,
        interval_s: float = INTERVAL_S,
    ) -> None:
        self.stack = stack
        self.service = service
        self.endpoint = health_endpoint(stack, service, "readiness")
        self.release_of = release_of
        self.interval_s = interval_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"watch-{service}", daemon=True)

    def sample(self) -> Sample:
        at = time.monotonic()
        timed_out = False
        try:
            status: int | None = self.endpoint.request(
                TIMEOUT_S, headers={"User-Agent": USER_AGENT}
            ).status_code
        except httpx.TimeoutException:
            status, timed_out = None, True
        except httpx.HTTPError:
            status = None
        control = self.stack.service(self.service)
        identity = control.identity()
        return Sample(at, status, identity, self.release_of(control.workdir()), timed_out)

    def _watch(self) -> None:
        while True:
            self.samples.append(self.sample())
            # The sampling interval of an observer, ended at once by `stop`.
            if self._stop.wait(self.interval_s):
                return

    def __enter__(self) -> ServiceWatcher:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append(self.sample())

    # --- what the samples say ---

    def identities(self) -> set[str]:
        """Every identity the service ran as while watched: one means it was not restarted."""
        return {s.identity for s in self.samples if s.identity is not None}

    def unready(self, *, definite: bool = False) -> list[Sample]:
        """Samples that were not 200; `definite`: leave out answers that were only slow."""
        return [s for s in self.samples if s.status != 200 and not (definite and s.timed_out)]

    def outage(self) -> tuple[float, float] | None:
        """From the first sample that was not 200 to the next 200 after the last such one."""
        bad = self.unready()
        if not bad:
            return None
        after = [s for s in self.samples if s.at > bad[-1].at and s.status == 200]
        return bad[0].at, (after[0].at if after else bad[-1].at)

    def spans(self) -> list[tuple[float, float, str]]:
        """Runs of equal (readiness, release): (start, end, label) for timelines."""
        found: list[tuple[float, float, str]] = []
        for sample in self.samples:
            label = f"{sample.status or 'no answer'}" + (
                f" · {sample.release}" if sample.release else ""
            )
            if found and found[-1][2] == label:
                found[-1] = (found[-1][0], sample.at, label)
            else:
                found.append((sample.at, sample.at, label))
        return found
