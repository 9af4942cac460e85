"""A compose stack's bring-up as the engine saw it: when each container started and when it
first turned healthy (the engine's events, to the nanosecond), as lifecycle events.

Compose starts a service only once its `depends_on` conditions hold; these events are the
evidence R-DEP-4 judges, not the harness's own moments of asking. A container with no health
check is ready when it starts (there is nothing else to wait for).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Any

import docker
import docker.errors

from stackproof.backends.values import LifecycleEvent

SERVICE_LABEL = "com.docker.compose.service"
PROJECT_LABEL = "com.docker.compose.project"
HEALTHY = "health_status: healthy"
READER_JOIN_S = 5.0  # the stream's socket is closed: its reader ends at once


class EngineEventLog:
    """The project's container starts and first health checks passed, as the engine streams
    them from the moment the log is opened (before `compose up`) until it is closed.

    Read as they happen, not asked for afterwards: the engine keeps only its last 256
    events, and health checks every half second in every container of every stack on the
    host (three events each) push a bring-up's out of that window within seconds.
    """

    def __init__(self, client: docker.DockerClient, project: str) -> None:
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        # The subscription is in place when this returns (the engine has answered).
        self._stream = client.events(
            filters={"type": "container", "label": [f"{PROJECT_LABEL}={project}"]},
            decode=True,
        )
        self._reader = threading.Thread(target=self._read, name=f"events-{project}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for event in self._stream:
                if event.get("Action") in ("start", HEALTHY):
                    with self._lock:
                        self._events.append(event)
        except (OSError, ValueError, docker.errors.DockerException):
            pass  # closed (the stack goes down), or the engine went away: the log ends

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def close(self) -> None:
        self._stream.close()
        self._reader.join(timeout=READER_JOIN_S)


def bring_up_events(
    events: list[dict[str, Any]],
    profile_name: Mapping[str, str],  # compose service -> profile service
    has_healthcheck: Callable[[str], bool],
    wall_to_monotonic: float,  # add to a wall-clock time to get monotonic time
) -> list[LifecycleEvent]:
    """spawn (its first start) and ready (its first healthy, or its start) of each service."""
    found: dict[tuple[str, str], float] = {}
    for event in events:
        service = (event.get("Actor", {}).get("Attributes") or {}).get(SERVICE_LABEL, "")
        name = profile_name.get(service)
        if name is None:
            continue  # the fault proxy, a one-off, a service the profile does not name
        at = int(event["timeNano"]) / 1e9 + wall_to_monotonic
        kinds = ["spawn"] if event["Action"] == "start" else ["ready"]
        if event["Action"] == "start" and not has_healthcheck(service):
            kinds.append("ready")
        for kind in kinds:
            found.setdefault((name, kind), at)  # the first
    return sorted(
        (LifecycleEvent(name, kind, at) for (name, kind), at in found.items()),  # type: ignore[arg-type]
        key=lambda e: e.at,
    )
