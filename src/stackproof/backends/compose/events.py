"""A compose stack's bring-up as the engine saw it: when each container started and when it
first turned healthy (the engine's events, to the nanosecond), as lifecycle events.

Compose starts a service only once its `depends_on` conditions hold; these events are the
evidence R-DEP-4 judges, not the harness's own moments of asking. A container with no health
check is ready when it starts (there is nothing else to wait for).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import docker

from stackproof.backends.values import LifecycleEvent

SERVICE_LABEL = "com.docker.compose.service"
PROJECT_LABEL = "com.docker.compose.project"
HEALTHY = "health_status: healthy"


def engine_events(
    client: docker.DockerClient, project: str, since_wall: float
) -> list[dict[str, Any]]:
    """The project's container events from `since_wall` until now."""
    stream = client.events(
        since=int(since_wall) - 1,
        until=int(time.time()) + 1,
        filters={"type": "container", "label": [f"{PROJECT_LABEL}={project}"]},
        decode=True,
    )
    return [event for event in stream if event.get("Action") in ("start", HEALTHY)]


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
