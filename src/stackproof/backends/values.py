"""Value types shared by the backends, the fault layer and the suites.

A leaf: it imports nothing of stackproof, so any module may use these types without pulling a
backend (or the fault layer) in — which is what once made `backends.base` and
`faults.network` import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal


class Capability(StrEnum):
    CONTROL = "control"  # start/stop/kill/pause services
    LOGS = "logs"  # read service logs
    EXEC = "exec"  # run commands beside a service
    OPS = "ops"  # run the stack's operations scripts against it (service control for scripts)
    FILES = "files"  # read and change the stack's files (backups, releases)


NO_PROXY_LINKS = (
    "the profile sets faults.proxy_links = false (to enable: faults.proxy_links = true)"
)


@dataclass(frozen=True, slots=True)
class Offer:
    """What a backend's stacks of one profile will give the checks, known before any starts:
    `stackproof plan` and the run's own skips read the same offer. Each `no_*` field says
    why the thing is missing (with what would enable it), None when it is there."""

    capabilities: frozenset[Capability]
    no_host: str | None = None  # a host to inspect (R-HOST-*, R-TLS-8)
    no_signer: str | None = None  # the Discord key the bot trusts
    no_fault_links: str | None = None  # links through a fault proxy
    no_partitions: str | None = None  # cutting a service off the network, on this machine
    no_distinct_clients: str | None = None  # the front telling the harness's clients apart
    no_host_commands: str | None = None  # the host's own firewall and fail2ban, asked as root
    no_dependency_files: str | None = None  # taking a service's dependency files away
    no_setting_changes: str | None = None  # restarting a service with a setting taken away
    held_secrets: frozenset[str] | None = None  # the secrets whose values it has; None: all

    def holds_secret(self, name: str) -> bool:
        return self.held_secrets is None or name in self.held_secrets


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
    # Why the front cannot tell the harness's clients apart by their source address (a
    # proxy in between that connects from its own, like Docker's docker-proxy), or None.
    clients_merged: str | None = None
    # The ports clients name in URLs and Host headers, where they differ from the ports
    # connected to (a front reached through a forwarded port, as `curl --resolve` does).
    public_https_port: int | None = None
    public_http_port: int | None = None

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("the public host name is empty")

    @property
    def https_authority(self) -> str:
        port = self.public_https_port or self.https.port
        return self.host if port == 443 else f"{self.host}:{port}"

    @property
    def http_authority(self) -> str | None:
        if self.http is None:
            return None
        port = self.public_http_port or self.http.port
        return self.host if port == 80 else f"{self.host}:{port}"

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


def link_name(source: str, target: str) -> str:
    """A link's name: source, dash, target (a dash never occurs in service names)."""
    return f"{source}-{target}"


@dataclass(frozen=True, slots=True)
class LinkProxy:
    """One link of the stack and the fault proxy that carries it."""

    name: str  # the link, e.g. "bot-postgres"
    source: str
    target: str
    proxy: str  # the proxy's name on the Toxiproxy-API server
    listen: Endpoint  # where the source connects (as the server sees it)
    upstream: Endpoint  # where the target listens (as the server sees it)


FileKind = Literal["file", "dir", "link", "other"]


@dataclass(frozen=True, slots=True)
class FileStat:
    """What a stack's file is, as `lstat` tells it (a link is not followed)."""

    kind: FileKind
    mode: int  # permission bits only (S_IMODE)
    size: int
    mtime: float  # seconds since the epoch
