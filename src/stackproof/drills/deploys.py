"""A deploy drill: the service deployed by the stack's deploy script, watched from outside."""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from stackproof.backends.base import Stack
from stackproof.backends.values import LifecycleEvent
from stackproof.drills.polling import ProbeLog
from stackproof.drills.releases import Releases
from stackproof.drills.scripts import OpsScripts, RunningScript, ScriptResult
from stackproof.drills.timeline import marks_lane, observed_lane, script_lane
from stackproof.drills.watch import USER_AGENT as WATCHER
from stackproof.drills.watch import ServiceWatcher
from stackproof.errors import CapabilityMissingError, PreconditionError, ServiceStartError
from stackproof.profile.model import DeployPolicy
from stackproof.readiness import Check, wait_for
from stackproof.results.drill_charts import Lane, Mark, timeline_payload

MARGIN_S = 30.0  # beyond the policy's own budget: process start-up under a loaded machine


@dataclass(frozen=True, slots=True)
class _Ready:
    watcher: ServiceWatcher

    @property
    def description(self) -> str:
        return f"{self.watcher.service} ready"

    def check(self) -> Check:
        sample = self.watcher.sample()
        return Check(sample.status == 200, f"readiness {sample.status or 'no answer'}")


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
    original: str | None = None  # the release `current` pointed at before the drill
    installed_before: tuple[str, ...] = ()

    @classmethod
    def first_of(cls, stack: Stack, workshop: Path) -> DeployTarget:
        """The profile's first deployable service. Its artifacts are built in `workshop`
        (here) and, where the stack's files are not on this machine (a staging host), shipped
        into a temporary folder the run makes there (removed by `close`)."""
        scripts = OpsScripts(stack)
        ops = scripts.ops
        if not ops.deploy_services:
            raise CapabilityMissingError(
                "the profile names no service deployed as releases",
                enable="ops.deploy_services",
            )
        service = ops.deploy_services[0]
        files = stack.files()
        root = ops.releases_dir / service
        drop = None
        if files.local_path(root) is None:
            drop = files.temp_folder("stackproof-artifacts-")
            # The service's own user reads the artifacts' files (an unready release's probe
            # log is written there); the releases themselves hold no secret.
            files.chmod(drop, 0o755)
        releases = Releases(
            files, root, service, ops.release_entrypoint, workshop,
            python=ops.python or sys.executable, drop=drop,
        )  # fmt: skip
        return cls(
            stack, service, releases, scripts, stack.profile.policy.deploy,
            original=releases.pointed("current"), installed_before=tuple(releases.installed()),
        )  # fmt: skip

    def close(self) -> None:
        """Remove what the drill put on the stack's side beside the releases; a stack that
        outlives the drill (a staging host: artifacts were shipped there) gets the release it
        ran before back, through its own deploy script, and loses the drill's releases."""
        try:
            if self.releases.drop is not None and self.original is not None:
                self._put_back(self.original)
        finally:
            self.releases.close()

    def _put_back(self, original: str) -> None:
        if self.releases.pointed("current") != original or self.running() != original:
            folder = self.releases.root / "releases" / original
            result = self.scripts.run("deploy", self.service, str(folder), timeout_s=self.timeout_s)
            if result.exit_code != 0:
                raise PreconditionError(
                    f"putting {self.service}'s release {original} back after the drill "
                    f"failed: {result.describe()}"
                )
        kept = {original, self.releases.pointed("current"), self.releases.pointed("previous")}
        for version in set(self.releases.installed()) - set(self.installed_before) - kept:
            self.releases.files.remove_tree(self.releases.root / "releases" / version)

    def require_ready(self, when: str) -> None:
        """A drill judges a deploy only from a service that was ready before it."""
        watcher = ServiceWatcher(self.stack, self.service)
        try:
            wait_for(_Ready(watcher), timeout_s=self.policy.health_deadline_s, what=self.service)
        except ServiceStartError as error:
            raise PreconditionError(
                f"{self.service} is not ready {when}, so a deploy cannot be judged: {error}"
            ) from None

    def listen_port(self) -> int:
        """The port the service listens on where it runs: a release planted in its place
        must listen there (the harness may reach it through a forward)."""
        return self.stack.service(self.service).listen_port()

    # --- the stack's lifecycle, where the backend keeps one ---

    def lifecycle_mark(self) -> int | None:
        """How many lifecycle events the stack has so far; None where it keeps none."""
        try:
            return len(self.stack.lifecycle())
        except CapabilityMissingError:
            return None

    def since(self, mark: int | None) -> list[LifecycleEvent] | None:
        """The service's lifecycle events after `mark`; None where the stack keeps none."""
        if mark is None:
            return None
        return [e for e in self.stack.lifecycle()[mark:] if e.service == self.service]

    def release_started(self, mark: int | None, log: ProbeLog) -> tuple[float | None, str]:
        """When the deploy started the planted release, and who says so: the stack's
        lifecycle (not the script's word) where it keeps one, else the release itself, in
        the clock of its probes (a host's clock is not this machine's)."""
        events = self.since(mark)
        if events is None:
            return log.started, "the release's own start (the backend keeps no lifecycle)"
        spawns = [e.at for e in events if e.kind == "spawn"]
        return (spawns[0] if spawns else None), "the stack's lifecycle"

    def probes(self, probe_log: PurePosixPath) -> ProbeLog:
        files = self.releases.files
        if files.stat(probe_log) is None:
            return ProbeLog(())
        return ProbeLog.parse(files.read_bytes(probe_log).decode("utf-8", "replace"), WATCHER)

    @property
    def timeout_s(self) -> float:
        """Long enough for a deploy that uses its whole budget and rolls back, with margin."""
        return 2 * self.policy.health_deadline_s + 2 * self.policy.health_interval_s + MARGIN_S

    def deploy(self, artifact: Path) -> ScriptResult:
        shipped = str(self.releases.ship(artifact))
        return self.scripts.run("deploy", self.service, shipped, timeout_s=self.timeout_s)

    def deploy_until(self, artifact: Path, seen: Callable[[], str | None]) -> ScriptResult:
        """Deploy, but stop it (SIGKILL) as soon as `seen` reports what the check is after:
        a violation observed needs no waiting for the rest of the deploy's budget."""
        running = self.scripts.start("deploy", self.service, str(self.releases.ship(artifact)))
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
        """The release the service's main process runs from (None: none of them)."""
        workdir = self.stack.service(self.service).workdir()
        release = self.releases.running(workdir)
        if release is None and workdir is not None and self.releases.through_link(workdir):
            # The configured folder (`current/`), not the process's own: which release
            # runs is unknown, not "none" (a host whose login may not read /proc/<pid>/cwd).
            raise PreconditionError(
                f"{self.service}'s working folder reads as {workdir}, through a link of its "
                "releases: which release it runs cannot be told (let the login read "
                "/proc/<pid>/cwd of the service's process, e.g. `sudo -n readlink`)"
            )
        return release

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
                *(
                    script_lane(label, self._on_this_clock(result), origin)
                    for label, result in results
                ),
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

    def _on_this_clock(self, result: ScriptResult) -> Sequence[Mapping[str, Any]]:
        """The script's events; a host's clock is not this machine's: there, its first
        event is placed at the script's start as seen here."""
        events = result.events
        first = next((e["t"] for e in events if isinstance(e.get("t"), int | float)), None)
        if self.releases.drop is None or first is None:
            return events
        shift = result.started - first
        return [{**e, "t": e["t"] + shift} if "t" in e else e for e in events]


def probe_lane(times: list[float], origin: float) -> Lane:
    return Lane("health probes received", marks=tuple(Mark(t - origin, "probe") for t in times))
