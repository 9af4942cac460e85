"""The one small interface every backend implements, and what the suites see of a stack.

Suites never learn how a stack runs: they get its public front, its services' endpoints and,
where the backend can, control over services (stop, kill, pause, ...) and their logs. A
backend that cannot do something says so through `capabilities`; the suites skip, with that
reason, what they cannot check.
"""

from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Literal

from stackproof.errors import CapabilityMissingError
from stackproof.profile import Profile
from stackproof.run import RunContext

if TYPE_CHECKING:
    from stackproof.faults.network import LinkNetwork
    from stackproof.faults.partition import Partitions


class Capability(StrEnum):
    CONTROL = "control"  # start/stop/kill/pause services
    LOGS = "logs"  # read service logs
    EXEC = "exec"  # run commands beside a service
    OPS = "ops"  # run the stack's operations scripts against it (service control for scripts)


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is out of range")

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def url(self, scheme: str = "http", path: str = "") -> str:
        return f"{scheme}://{self.address}{path}"


@dataclass(frozen=True, slots=True)
class PublicFront:
    """The stack's public face: where HTTPS and plain HTTP answer, and what to trust."""

    host: str  # the name clients use (SNI, Host header, certificate)
    https: Endpoint  # where to connect; host may be an IP the name resolves to
    http: Endpoint | None
    ca_bundle: Path | None  # None: the system trust store

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("the public host name is empty")

    @property
    def https_authority(self) -> str:
        return self.host if self.https.port == 443 else f"{self.host}:{self.https.port}"

    @property
    def http_authority(self) -> str | None:
        if self.http is None:
            return None
        return self.host if self.http.port == 80 else f"{self.host}:{self.http.port}"

    def https_url(self, path: str = "/") -> str:
        return f"https://{self.https_authority}{path}"

    def http_url(self, path: str = "/") -> str | None:
        authority = self.http_authority
        return None if authority is None else f"http://{authority}{path}"


LifecycleKind = Literal["spawn", "ready", "stop", "kill", "destroy"]
Actor = Literal["harness", "control"]  # the harness itself, or a script through service control


@dataclass(frozen=True, slots=True)
class LifecycleEvent:
    """Something that happened to a service, when (monotonic seconds), and who asked for it."""

    service: str
    kind: LifecycleKind
    at: float
    by: Actor = "harness"


@dataclass(frozen=True, slots=True)
class OpsAccess:
    """How to run a stack's operations scripts the way cron or CI would, and where they work.

    `scripts` maps an operation (deploy, backup, restore, retention) to its argv; `control`
    is the service-control command the backend offers scripts (`<control> restart bot`).
    """

    scripts: Mapping[str, tuple[str, ...]]
    env: Mapping[str, str]
    cwd: Path
    folder: Path
    config: Path | None
    backup_dir: Path
    releases_dir: Path
    control: Path
    database: str | None = None
    deploy_services: tuple[str, ...] = field(default=())
    release_entrypoint: str = "bin/start"

    def command(self, operation: str, *args: str) -> list[str]:
        argv = self.scripts.get(operation)
        if argv is None:
            known = ", ".join(sorted(self.scripts)) or "none"
            raise CapabilityMissingError(
                f"the profile names no ops script for {operation!r} (ops.{operation}; "
                f"it names: {known})"
            )
        return [*argv, *args]


@dataclass(frozen=True, slots=True)
class StackFailure:
    """A service that exited on its own after its stack was up: the cause of every later
    `error` of that stack, told once."""

    service: str
    exit_status: int | None  # None: gone, status unknown
    detail: str  # what was seen ("exited with code 1", "no longer owns port 41491")
    log_tail: str
    at: float  # monotonic seconds

    def describe(self) -> str:
        text = f"service {self.service!r} of the stack {self.detail}"
        return f"{text}; its log ends:\n{self.log_tail}" if self.log_tail else text


@dataclass(frozen=True, slots=True)
class TrialStart:
    """What a service did when started with a changed environment: exited with `exit_code`
    (None: still running at the deadline, then stopped), saying `output`."""

    exit_code: int | None
    output: str


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

    @property
    def pid(self) -> int | None:
        """The main process, to tell a restart from a recovery; None where unknown."""
        return None

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
        self, env: Mapping[str, str | None], timeout_s: float | None = None
    ) -> TrialStart:
        """Start the (stopped) service once, unsupervised, with `env` changed (None removes a
        variable), until it exits or answers ready (then it is stopped), for at most
        `timeout_s` (default: its readiness budget)."""
        raise CapabilityMissingError(f"{type(self).__name__} cannot start services on trial")

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
    network: LinkNetwork | None = None
    partitions: Partitions | None = None

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
        """The first service that exited on its own since the stack was up, or None.

        Exits the harness asked for (stop, kill, destroy, a fault) are not failures."""
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
    def up(self, profile: Profile, run: RunContext, label: str) -> AbstractContextManager[Stack]:
        """Bring a stack up (or reach it); leaving the context tears down what was made."""
