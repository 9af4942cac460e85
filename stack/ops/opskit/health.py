"""Polling a health URL at a fixed interval until it answers 200 or a deadline passes."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from opskit.events import Events

REQUEST_TIMEOUT_S = 2.0


def status_of(url: str, timeout_s: float = REQUEST_TIMEOUT_S) -> str:
    """The HTTP status as text, or the reason there was none."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:  # noqa: S310 - http(s) from the config
            return str(answer.status)
    except urllib.error.HTTPError as error:
        return str(error.code)
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return f"no answer ({reason})"


@dataclass(frozen=True, slots=True)
class Poll:
    url: str
    interval_s: float
    deadline_s: float

    def until_healthy(
        self, events: Events, label: str, give_up: Callable[[], bool] | None = None
    ) -> bool:
        """Ask at once, then every interval (anchored to the start, so no drift), at most
        until the deadline; True on the first 200. `give_up` ends it early (a crashed
        process will not become healthy)."""
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            status = status_of(self.url)
            elapsed = time.monotonic() - started
            events.emit(
                "health",
                f"{label}: {status}",
                attempt=attempt,
                status=status,
                elapsed_s=round(elapsed, 3),
            )
            if status == "200":
                return True
            if give_up is not None and give_up():
                events.emit("gave_up", f"{label}: the process exited", attempt=attempt)
                return False
            next_at = started + attempt * self.interval_s
            if next_at - started > self.deadline_s:
                return False
            # The poll interval is the deploy policy itself (every 5 s by default).
            time.sleep(max(0.0, next_at - time.monotonic()))
