"""The one small interface every backend implements, and what the suites see of a stack.

Suites never learn how a stack runs: they get its public front, its services' endpoints and,
where the backend can, control over services (stop, kill, pause, ...), their logs, the
stack's files and its operations scripts. A backend that cannot do something says so (its
`capabilities`, or a `CapabilityMissingError` naming what would enable it); the suites skip,
with that reason, what they cannot check.

Nothing here is about local processes: a service's restart identity is an opaque string (a
PID and start time for a process, a container ID and start time for a container), a stack's
files are paths on the stack's side reached through `FileAccess`, and faults reach the stack
through the `FaultNetwork` and `Partitions` protocols each backend implements. This module
imports no backend and nothing of the fault layer.
"""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, ClassVar, Protocol

from stackproof.backends.hosts import HostAccess
from stackproof.backends.values import (
    Capability,
    Endpoint,
    FileStat,
    LifecycleEvent,
    LinkProxy,
    Offer,
    PublicFront,
    StackFailure,
    TrialStart,
)
from stackproof.errors import CapabilityMissingError
from stackproof.fakes.discord import DiscordSigner
from stackproof.profile import Profile
from stackproof.profile.model import FileDependency
from stackproof.run import RunContext

__all__ = [
    "Backend",
    "FaultNetwork",
    "FileAccess",
    "OpsAccess",
    "Partitions",
    "ScriptProcess",
    "ServiceControl",
    "Stack",
]


class FaultNetwork(Protocol):
    """The stack's links, each carried by a proxy of a Toxiproxy-API server.

    `url` is where the harness reaches the server's API; faults are toxics on its proxies."""

    @property
    def url(self) -> str: ...

    @property
    def links(self) -> Mapping[str, LinkProxy]: ...

    def link(self, name: str) -> LinkProxy:
        """The link `name` (`source-target`); KeyError naming the known links otherwise."""
        ...


class Partitions(Protocol):
    """Cutting a service off the network, as far as the backend can."""

    def unavailable(self) -> str | None:
        """Why partitions cannot be made here, or None when they can."""
        ...

    def isolated(self, service: str) -> AbstractContextManager[None]:
        """For the block, nothing reaches `service` and it reaches nothing."""
        ...


class FileAccess(Protocol):
    """A stack's files, by their paths on the stack's side (a host, a container)."""

    def stat(self, path: PurePosixPath) -> FileStat | None:
        """What `path` is (a link is not followed); None when nothing is there."""
        ...

    def list(self, folder: PurePosixPath) -> list[str]:
        """The names in `folder`, sorted; empty when it does not exist."""
        ...

    def read_bytes(self, path: PurePosixPath, limit: int | None = None) -> bytes: ...

    def write_bytes(self, path: PurePosixPath, data: bytes, mode: int = 0o600) -> None: ...

    def copy(self, source: PurePosixPath, target: PurePosixPath) -> None: ...

    def chmod(self, path: PurePosixPath, mode: int) -> None: ...

    def set_mtime(self, path: PurePosixPath, mtime: float) -> None: ...

    def remove(self, path: PurePosixPath) -> None:
        """Remove a file; one that is not there is fine."""
        ...

    def readlink(self, path: PurePosixPath) -> str | None:
        """Where the symbolic link `path` points; None when it is not a link."""
        ...

    def local_path(self, path: PurePosixPath) -> Path | None:
        """Where `path` is on this machine (a bind mount, the same host), or None."""
        ...

    def upload(self, local: Path, target: PurePosixPath) -> None:
        """Put the file or folder `local` (of this machine) at `target` on the stack's side,
        modes and symbolic links kept; `target` must not exist."""
        ...

    def download(self, source: PurePosixPath, local: Path) -> None:
        """Bring the file or folder `source` here, to `local` (which must not exist), modes
        and symbolic links kept."""
        ...

    def temp_folder(self, prefix: str) -> PurePosixPath:
        """A new empty folder on the stack's side (mode 0700), for the caller to remove with
        `remove_tree`."""
        ...

    def remove_tree(self, path: PurePosixPath) -> None:
        """Remove a folder and everything in it; one that is not there is fine."""
        ...


class ScriptProcess(Protocol):
    """An operations script the backend started, as cron or CI would have."""

    @property
    def argv(self) -> tuple[str, ...]: ...

    def running(self) -> bool: ...

    def exit_code(self) -> int | None:
        """None while it runs."""
        ...

    def wait(self, timeout_s: float) -> int:
        """Its exit code; subprocess.TimeoutExpired at the deadline."""
        ...

    def kill(self) -> None:
        """SIGKILL it and everything it started."""
        ...

    def stop(self, timeout_s: float) -> None: ...

    def log_tail(self, lines: int) -> str: ...


@dataclass(frozen=True, slots=True)
class OpsAccess:
    """How to run a stack's operations scripts the way cron or CI would, and where they work.

    `scripts` maps an operation (deploy, backup, restore, retention) to its argv; `control`
    is the service-control command the backend offers scripts (`<control> restart bot`).
    """

    scripts: Mapping[str, tuple[str, ...]]
    env: Mapping[str, str]
    cwd: PurePosixPath
    folder: PurePosixPath  # the stack's ops folder (events of scripts land under it)
    config: PurePosixPath | None
    backup_dir: PurePosixPath
    releases_dir: PurePosixPath
    control: PurePosixPath
    database: str | None = None
    deploy_services: tuple[str, ...] = field(default=())
    release_entrypoint: str = "bin/start"
    python: str | None = None  # the interpreter `{{ python }}` names there; None: this one

    def command(self, operation: str, *args: str) -> list[str]:
        argv = self.scripts.get(operation)
        if argv is None:
            known = ", ".join(sorted(self.scripts)) or "none"
            raise CapabilityMissingError(
                f"the profile names no ops script for {operation!r} (ops.{operation}; "
                f"it names: {known})"
            )
        return [*argv, *args]


class ServiceControl(ABC):
    """One service of a running stack."""

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind

    @abstractmethod
    def endpoint(self, port: str | None = None) -> Endpoint:
        """Where the harness reaches the named port (the primary one by default)."""

    def base_url(self) -> str:
        return self.endpoint().url()

    def listen_port(self) -> int:
        """The port the service listens on where it runs (its primary one); the harness
        may reach it elsewhere (`endpoint`: a forward, a published port)."""
        return self.endpoint().port

    def identity(self) -> str | None:
        """An opaque value that changes whenever the service's main process is replaced (a
        restart, not a recovery in place); None while it does not run or where unknown."""
        return None

    def workdir(self) -> str | None:
        """The working folder of the service's main process (on the stack's side), if known:
        it tells which release a service runs from."""
        return None

    def restart_record(self) -> list[dict[str, Any]]:
        """What the service's supervisor recorded of its last restarts (evidence)."""
        return []

    def start(self, wait: bool = True) -> None:
        """Start the service (if it is not running); `wait` for it to be ready."""
        raise CapabilityMissingError(f"{type(self).__name__} cannot start services")

    def stop(self) -> None:
        raise CapabilityMissingError(f"{type(self).__name__} cannot stop services")

    def kill(self) -> None:
        raise CapabilityMissingError(f"{type(self).__name__} cannot kill services")

    def pause(self) -> None:
        raise CapabilityMissingError(f"{type(self).__name__} cannot pause services")

    def resume(self) -> None:
        raise CapabilityMissingError(f"{type(self).__name__} cannot resume services")

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        """Kill the service and wipe its persistent state, as a lost disk would.

        The next `start` provisions it afresh (an empty database server, say).
        """
        raise CapabilityMissingError(f"{type(self).__name__} cannot destroy a service's state")

    def admin_url(self) -> str:
        """A URL the harness uses to reach a database service as its administrator."""
        raise CapabilityMissingError(f"{type(self).__name__} gives no administrator access")

    def exec(
        self, argv: Sequence[str], timeout_s: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        raise CapabilityMissingError(f"{type(self).__name__} cannot run commands")

    def trial_start(
        self,
        env: Mapping[str, str | None],
        timeout_s: float | None = None,
        while_ready: Callable[[], None] | None = None,
    ) -> TrialStart:
        """Start the (stopped) service once, unsupervised, with `env` changed (None removes a
        variable), until it exits or answers ready (then `while_ready` runs, say to send it
        requests, and it is stopped), for at most `timeout_s` (default: its readiness
        budget)."""
        raise CapabilityMissingError(f"{type(self).__name__} cannot start services on trial")

    def restarted_with(
        self, env: Mapping[str, str | None]
    ) -> AbstractContextManager[TrialStart | None]:
        """For the block, the service runs (unsupervised) with `env` changed (None removes a
        variable; every key must be one the service's environment has), from the moment it
        listens; the block gets None then, or, when it exited or never listened within its
        start budget, what it did (`TrialStart`). Afterwards it runs as the profile says
        again, ready, also after a failure in the block."""
        raise CapabilityMissingError(
            f"{type(self).__name__} cannot restart a service with a changed environment",
            enable="--backend=process",
        )

    def logs(self) -> str:
        raise CapabilityMissingError(f"{type(self).__name__} cannot read logs")

    def run_once(self, *, without_env: Sequence[str], timeout_s: float) -> tuple[int | None, str]:
        """Run the service's own command in the foreground with `without_env` removed from its
        environment (the service must be stopped): (exit code, or None if it was still running
        after `timeout_s` and was killed; its output)."""
        raise CapabilityMissingError(f"{type(self).__name__} cannot run a service by hand")

    def connection_url(self) -> str:
        """A URL (with credentials) for the harness to reach the service directly."""
        raise CapabilityMissingError(f"{type(self).__name__} gives no connection URLs")


class Stack(ABC):
    """A running stack as the suites see it."""

    capabilities: frozenset[Capability] = frozenset()
    # Set by backends whose links run through a fault proxy, and that can partition services.
    network: FaultNetwork | None = None
    partitions: Partitions | None = None
    ready_after_s: float | None = None  # seconds from bring-up to all-ready, where measured

    def __init__(self, profile: Profile, run: RunContext, label: str) -> None:
        self.profile = profile
        self.run = run
        self.label = label

    @property
    @abstractmethod
    def public(self) -> PublicFront: ...

    @abstractmethod
    def service(self, name: str) -> ServiceControl: ...

    def services(self) -> Iterator[ServiceControl]:
        for name in self.profile.services:
            yield self.service(name)

    def can(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def logs(self, service: str) -> str:
        return self.service(service).logs()

    def failure(self) -> StackFailure | None:
        """The first service that exited on its own since the stack was up and has not been
        started again since, or None.

        Exits the harness or service control asked for (stop, kill, destroy, a fault) are not
        failures."""
        return None

    def lifecycle(self) -> list[LifecycleEvent]:
        """Every spawn, ready, stop, kill and destroy of this stack's services so far."""
        raise CapabilityMissingError(f"{type(self).__name__} keeps no service lifecycle")

    def secret(self, name: str) -> str:
        """The value the run generated for one of the profile's `secrets`."""
        raise CapabilityMissingError(f"{type(self).__name__} holds no secrets of the stack")

    def ops(self) -> OpsAccess:
        """How to run the profile's operations scripts against this stack."""
        raise CapabilityMissingError(f"{type(self).__name__} cannot run operations scripts")

    def start_script(
        self, operation: str, args: Sequence[str], env: Mapping[str, str], log_path: Path
    ) -> ScriptProcess:
        """Start one of the profile's ops scripts where cron or CI would run it, with `env`
        added to its environment and its output in `log_path` (on this machine)."""
        raise CapabilityMissingError(f"{type(self).__name__} cannot run operations scripts")

    def files(self) -> FileAccess:
        """The stack's files (backups, releases), by their paths on the stack's side."""
        raise CapabilityMissingError(f"{type(self).__name__} cannot reach the stack's files")

    def dependency_file(self, service: str, dependency: FileDependency) -> PurePosixPath:
        """Where `dependency` (one of `service`'s health.depends_on_files) is on the stack's
        side, for `files()`; only a file this run made unless the profile says `outside_run`
        (PreconditionError otherwise)."""
        raise CapabilityMissingError(
            f"{type(self).__name__} cannot take a service's files away",
            enable="--backend=process",
        )

    def host(self) -> HostAccess:
        """The host the stack runs on (R-HOST-*, R-TLS-8): commands, files, its services."""
        raise CapabilityMissingError(
            f"{type(self).__name__} gives no host to inspect",
            enable="backend remote with remote.ssh",
        )

    def signer(self) -> DiscordSigner:
        """The key the stack's bot trusts for Discord interactions, to sign requests."""
        raise CapabilityMissingError(
            f"{type(self).__name__} holds no Discord signing key for the stack"
        )


class Backend(ABC):
    """How stacks are reached: one module each, one line in the registry."""

    name: ClassVar[str]
    destructive_ok: ClassVar[bool] = True

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this backend cannot run on this machine, or None when it can."""
        return None

    @abstractmethod
    def check(self, profile: Profile) -> None:
        """Raise ProfileError if the profile lacks what this backend needs. Starts nothing."""

    @abstractmethod
    def offer(self, profile: Profile) -> Offer:
        """What this backend's stacks of `profile` give the checks. Starts nothing."""

    @abstractmethod
    def up(self, profile: Profile, run: RunContext, label: str) -> AbstractContextManager[Stack]:
        """Bring a stack up (or reach it); leaving the context tears down what was made."""
