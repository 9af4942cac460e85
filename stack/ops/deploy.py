#!/usr/bin/env python3
"""Deploy a release of one service, and roll back on its own when it fails its health check.

    deploy.py SERVICE ARTIFACT [--config FILE] [--events FILE] [--install-only]

ARTIFACT is a release folder or a .tar.gz of one (see `release.py build`). In order:

1. validate the artifact (manifest for SERVICE, executable entrypoint) — nothing is touched
   before this passes (R-DEP-3);
2. check that the service's dependencies are healthy; a deploy never starts a release on a
   broken dependency (R-DEP-4);
3. install it beside the others, keep the running release as the rollback target
   (`previous`), switch `current` to it, restart the service;
4. poll the health URL at once and then every `interval_s` (default 5 s) for at most
   `deadline_s` (default 60 s) (R-DEP-1);
5. on failure: switch back to the rollback target, restart, poll again — and exit non-zero
   even when the rollback worked (R-DEP-2).

Exit status: 0 deployed (or already running), 1 configuration or usage error, 2 invalid
artifact (nothing touched), 3 failed and rolled back, 4 failed and the rollback failed too
(the service is down), 5 a dependency is unhealthy (nothing touched), 6 another deploy of
this service is running.

Configuration (`[deploy.<service>]` of the ops config): `releases` (folder), `entrypoint`,
`health_url`, `interval_s`, `deadline_s`, `dependencies` (`postgres://host:port`,
`tcp://host:port` or an http(s) URL that must answer 200); `service_control` at the top.
"""

from __future__ import annotations

import argparse
import fcntl
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from opskit.config import Config, ConfigError
from opskit.events import Events
from opskit.health import Poll, status_of
from opskit.postgres import Database
from opskit.releases import InvalidRelease, Release, ReleaseStore
from opskit.service import ControlError, ServiceControl

DEPLOYED, CONFIG, INVALID, ROLLED_BACK, DOWN, DEPENDENCY, BUSY = 0, 1, 2, 3, 4, 5, 6


def dependency_healthy(spec: str, config: Config) -> bool:
    scheme, _, address = spec.partition("://")
    if scheme in ("http", "https"):
        return status_of(spec) == "200"
    host, _, port = address.rpartition(":")
    if scheme in ("postgres", "postgresql"):
        bin_dir = config.path("database.bin_dir") if config.has("database.bin_dir") else Path()
        database = Database("", None, "", host, int(port), bin_dir)
        return database.accepts_connections()
    if scheme == "tcp":
        try:
            with socket.create_connection((host, int(port)), timeout=3):
                return True
        except OSError:
            return False
    raise ConfigError(f"dependency {spec!r}: use postgres://, tcp:// or an http(s) URL")


class Deploy:
    def __init__(self, service: str, config: Config, events: Events) -> None:
        self.service = service
        self.config = config
        self.events = events
        key = f"deploy.{service}"
        if not config.has(key):
            raise ConfigError(f"{config.source}: no [{key}] table: {service} is not deployable")
        self.store = ReleaseStore(
            config.path(f"{key}.releases"), service, config.text(f"{key}.entrypoint")
        )
        self.poll = Poll(
            config.text(f"{key}.health_url"),
            config.number(f"{key}.interval_s", 5.0),
            config.number(f"{key}.deadline_s", 60.0),
        )
        self.dependencies = config.texts(f"{key}.dependencies", [])
        self.control = ServiceControl(tuple(config.command("service_control")))

    def unhealthy_dependencies(self) -> list[str]:
        return [d for d in self.dependencies if not dependency_healthy(d, self.config)]

    def start_and_watch(self, release: Release, label: str) -> bool:
        """Point `current` at `release`, restart the service, poll its health."""
        self.store.point("current", release)
        self.events.emit("switched", f"current → {release.version}", version=release.version)
        try:
            self.control.restart(self.service)
        except ControlError as error:
            self.events.emit("restart_failed", str(error), version=release.version)
            return False
        self.events.emit("restarted", f"{self.service} ({label})", version=release.version)
        return self.poll.until_healthy(
            self.events, f"{label} {release.version}", lambda: self.control.exited(self.service)
        )

    def run(self, artifact: Path, install_only: bool) -> int:  # noqa: PLR0911 - one exit per outcome, as documented
        self.events.emit("start", f"{self.service} from {artifact}", artifact=str(artifact))
        try:
            staged = self.store.stage(artifact)
        except InvalidRelease as error:
            self.events.fail("invalid", f"refused, nothing changed: {error}")
            return INVALID
        self.events.emit("validated", staged.version, version=staged.version)
        running = self.store.pointed("current")
        if running is not None and running.version == staged.version:
            self.store.install(staged)
            self.events.emit("unchanged", f"{staged.version} is already the running release")
            return DEPLOYED
        if not install_only and (broken := self.unhealthy_dependencies()):
            self.store.discard(staged)
            self.events.fail(
                "dependency_unhealthy",
                f"refused, nothing changed: unhealthy dependencies {', '.join(broken)}",
                dependencies=broken,
            )
            return DEPENDENCY
        release = self.store.install(staged)
        if running is not None:
            self.store.point("previous", running)
            self.events.emit("rollback_target", running.version, version=running.version)
        if install_only:
            self.store.point("current", release)
            self.events.emit("switched", f"current → {release.version} (install only)")
            return DEPLOYED
        if self.start_and_watch(release, "new release"):
            self.events.emit("deployed", release.version, version=release.version)
            return DEPLOYED
        if running is None:
            self.events.fail("failed", f"{release.version} is unhealthy; no release to return to")
            return DOWN
        self.events.emit("rollback", f"{release.version} failed; back to {running.version}")
        if self.start_and_watch(running, "rollback to"):
            self.events.fail(
                "rolled_back",
                f"{release.version} failed its health check; {running.version} serves again",
                version=running.version,
            )
            return ROLLED_BACK
        self.events.fail("rollback_failed", f"{running.version} is unhealthy too: service down")
        return DOWN


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("service")
    parser.add_argument("artifact", type=Path)
    parser.add_argument("--config", help="ops config (default: $OPS_CONFIG)")
    parser.add_argument("--events", help="append JSON-line events here (default: $OPS_EVENTS)")
    parser.add_argument(
        "--install-only",
        action="store_true",
        help="install and point `current` at it without a restart (a host's first release)",
    )
    args = parser.parse_args(argv)
    events = Events("deploy", args.events)
    try:
        deploy = Deploy(args.service, Config.load(args.config), events)
        deploy.store.root.mkdir(parents=True, exist_ok=True, mode=0o755)
        with (deploy.store.root / ".deploy.lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                events.fail("busy", f"another deploy of {args.service} is running")
                return BUSY
            return deploy.run(args.artifact, args.install_only)
    except ConfigError as error:
        events.fail("config", str(error))
        return CONFIG


if __name__ == "__main__":
    sys.exit(main())
