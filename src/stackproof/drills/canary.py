"""The canary writer: numbered, timestamped rows sent through a service at a steady rate.

Every acknowledged write is remembered with the monotonic moment of its acknowledgement, so
after a restore the newest row present says how much was lost: RPO = destruction - the
acknowledgement of that row.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass

import httpx

from stackproof.profile.model import CanarySettings
from stackproof.readiness import Check


@dataclass(frozen=True, slots=True)
class CanaryEndpoint:
    base_url: str
    settings: CanarySettings
    token: str | None

    def headers(self) -> dict[str, str]:
        return {self.settings.token_header: self.token} if self.token else {}

    def latest(self, timeout_s: float = 2.0) -> tuple[int | None, int | None]:
        """(HTTP status or None, newest seq or None)."""
        try:
            response = httpx.get(
                self.base_url + self.settings.read_path, headers=self.headers(), timeout=timeout_s
            )
        except httpx.HTTPError:
            return None, None
        if response.status_code != 200:
            return response.status_code, None
        seq = response.json().get("seq")
        return 200, int(seq) if isinstance(seq, int) else None


@dataclass(frozen=True, slots=True)
class CanaryPresent:
    """Readiness with data: the canary answers with a row at least as new as `at_least`."""

    endpoint: CanaryEndpoint
    at_least: int = 1

    @property
    def description(self) -> str:
        return f"GET {self.endpoint.settings.read_path} answers a canary row >= {self.at_least}"

    def check(self) -> Check:
        status, seq = self.endpoint.latest()
        ok = seq is not None and seq >= self.at_least
        return Check(ok, f"status {status}, newest seq {seq}")


class CanaryWriter:
    """Writes seq = first, first+1, ... every 1/rate seconds from a thread until `stop`."""

    def __init__(self, endpoint: CanaryEndpoint, rate_per_s: float, first_seq: int = 1) -> None:
        self.endpoint = endpoint
        self.period_s = 1.0 / rate_per_s
        self.next_seq = first_seq
        self.acked: dict[int, float] = {}  # seq → monotonic moment of the acknowledgement
        self.failures = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def last_acked(self) -> int:
        return max(self.acked, default=0)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._write, name="canary", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _write(self) -> None:
        settings = self.endpoint.settings
        url = self.endpoint.base_url + settings.write_path
        started = time.monotonic()
        ticks = 0
        with httpx.Client(headers=self.endpoint.headers(), timeout=2.0) as client:
            while not self._stop.is_set():
                seq = self.next_seq
                body = {"seq": seq, "written_at": dt.datetime.now(dt.UTC).isoformat()}
                try:
                    response = client.post(url, json=body)
                    if response.is_success:
                        self.acked[seq] = time.monotonic()
                        self.next_seq += 1
                    else:
                        self.failures += 1
                except httpx.HTTPError:
                    self.failures += 1
                ticks += 1
                # The writer's rate is the load the drill applies, not a wait for readiness.
                self._stop.wait(max(0.0, started + ticks * self.period_s - time.monotonic()))

    def acked_count(self) -> int:
        return len(self.acked)
