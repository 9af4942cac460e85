"""R-DEP-4 from a stack's lifecycle: did every service start only after its dependencies
were ready?"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from stackproof.backends.values import LifecycleEvent


def start_order_problems(
    events: Sequence[LifecycleEvent], dependencies: Mapping[str, Sequence[str]]
) -> list[str]:
    """For each spawn of a service, each dependency must have been ready (and not stopped,
    killed or destroyed since) at that moment."""
    problems = []
    ready: dict[str, bool] = {}
    for event in sorted(events, key=lambda e: e.at):
        if event.kind == "ready":
            ready[event.service] = True
        elif event.kind in ("stop", "kill", "destroy"):
            ready[event.service] = False
        elif event.kind == "spawn":
            for dependency in dependencies.get(event.service, ()):
                if not ready.get(dependency, False):
                    problems.append(
                        f"{event.service} started (by the {event.by}) while {dependency}, "
                        "a dependency, was not ready"
                    )
    return problems
