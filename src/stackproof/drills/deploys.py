"""A deploy drill: the service deployed by the stack's deploy script, watched from outside."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackproof.backends.base import Stack
from stackproof.drills.releases import Releases
from stackproof.drills.scripts import OpsScripts, RunningScript, ScriptResult
from stackproof.drills.timeline import marks_lane, observed_lane, script_lane
from stackproof.drills.watch import ServiceWatcher
from stackproof.errors import CapabilityMissingError, ServiceStartError
from stackproof.profile.model import DeployPolicy
from stackproof.readiness import Check, wait_for
from stackproof.results.drill_charts import Lane, Mark, timeline_payload

MARGIN_S = 30.0  # beyond the policy's own budget: process start-up under a loaded machine


@dataclass(frozen=True, slots=True)
class _Ended:
    running: RunningScript

    @property
    def description(self) -> str:
        return "the deploy script has ended"

    def check(self) -> Check:
        return Check(self.running.exited(), "running")


@dataclass(frozen=True)
class DeployTarget:
    stack: Stack
    service: str
    releases: Releases
    scripts: OpsScripts
    policy: DeployPolicy

    @classmethod
    def first_of(cls, stack: Stack, workshop: Path) -> DeployTarget:
        scripts = OpsScripts(stack)
        ops = scripts.ops
        if not ops.deploy_services:
            raise CapabilityMissingError(
                "the profile names no service deployed as releases",
                enable="ops.deploy_services",
            )
        service = ops.deploy_services[0]
        # Artifacts are built here, next to the releases they copy: the releases folder must
        # be on this machine (the process backend's; a container's bind mount).
        root = stack.files().local_path(ops.releases_dir / service)
        if root is None:
            raise CapabilityMissingError(
                f"{type(stack).__name__} keeps {service}'s releases ({ops.releases_dir}) "
                "where the harness cannot build release artifacts beside them",
                enable="a backend whose releases folder is on this machine (process)",
            )
        releases = Releases(root, service, ops.release_entrypoint, workshop)
        return cls(stack, service, releases, scripts, stack.profile.policy.deploy)

    @property
    def timeout_s(self) -> float:
        """Long enough for a deploy that uses its whole budget and rolls back, with margin."""
        return 2 * self.policy.health_deadline_s + 2 * self.policy.health_interval_s + MARGIN_S

    def deploy(self, artifact: Path) -> ScriptResult:
        return self.scripts.run("deploy", self.service, str(artifact), timeout_s=self.timeout_s)

    def deploy_until(self, artifact: Path, seen: Callable[[], str | None]) -> ScriptResult:
        """Deploy, but stop it (SIGKILL) as soon as `seen` reports what the check is after:
        a violation observed needs no waiting for the rest of the deploy's budget."""
        running = self.scripts.start("deploy", self.service, str(artifact))
        try:
            wait_for(
                _Ended(running),
                timeout_s=self.timeout_s,
                what=f"deploy of {self.service}",
                give_up=seen,
            )
        except ServiceStartError:
            running.kill()
        return running.wait(timeout_s=5.0)

    def running(self) -> str | None:
        return self.releases.running(self.stack.service(self.service).workdir())

    def watch(self) -> ServiceWatcher:
        return ServiceWatcher(self.stack, self.service, self.releases.running)

    def chart(
        self,
        title: str,
        results: Sequence[tuple[str, ScriptResult]],
        watcher: ServiceWatcher,
        probes: Sequence[float] = (),
    ) -> dict[str, Any]:
        """The deploy script's steps (one lane per run) over what the watcher saw, and the
        health probes a release received (monotonic times), if it logged them."""
        origin = min([r.started for _, r in results] + [s.at for s in watcher.samples[:1]])
        return timeline_payload(
            title,
            [
                *(script_lane(label, result.events, origin) for label, result in results),
                observed_lane(f"{self.service} readiness · release", watcher.spans(), origin),
                *([probe_lane(list(probes), origin)] if probes else []),
                marks_lane(
                    "exit",
                    {
                        f"{label}: exit {result.exit_code}": result.ended
                        for label, result in results
                    },
                    origin,
                ),
            ],
        )


def probe_lane(times: list[float], origin: float) -> Lane:
    return Lane("health probes received", marks=tuple(Mark(t - origin, "probe") for t in times))
