"""The bring-up's engine events are read as the engine streams them: the engine keeps only
its last 256 events, which a busy host's health checks push out within seconds."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from containers_helpers import Engine

from stackproof.backends.compose.events import PROJECT_LABEL, SERVICE_LABEL, EngineEventLog
from stackproof.containers import labels
from stackproof.containers.images import DEFAULT_BASE_IMAGE
from stackproof.readiness import Check, wait_for
from stackproof.run import new_run_id

pytestmark = pytest.mark.containers


@dataclass(frozen=True)
class _Holds:
    log: EngineEventLog
    count: int

    @property
    def description(self) -> str:
        return f"{self.count} events in the log"

    def check(self) -> Check:
        held = len(self.log.events())
        return Check(held >= self.count, f"{held} events")


def test_the_log_holds_the_projects_starts_from_its_opening_until_closed(engine: Engine) -> None:
    engine.require_image(DEFAULT_BASE_IMAGE, "make it with `stackproof images base`")
    run_id = new_run_id()
    project = f"spf-events-{run_id.lower()}"
    made = []

    def start(service: str, project_name: str) -> None:
        container = engine.client.containers.run(
            DEFAULT_BASE_IMAGE,
            ["true"],
            detach=True,
            labels={labels.RUN: run_id, PROJECT_LABEL: project_name, SERVICE_LABEL: service},
        )
        made.append(container)
        container.wait(timeout=60)

    try:
        start("before", project)  # before the log: not in it
        log = EngineEventLog(engine.client, project)
        start("db", project)
        start("other", f"{project}-not-this-one")
        start("app", project)
        wait_for(_Holds(log, 2), timeout_s=30, what="the engine's event stream")
        log.close()
        start("after", project)
        seen = [e["Actor"]["Attributes"][SERVICE_LABEL] for e in log.events()]
        assert seen == ["db", "app"]
        assert {e["Action"] for e in log.events()} == {"start"}
    finally:
        for container in made:
            container.remove(force=True)
