"""What every locally run service provides, and the context it is built from."""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stackproof.backends.values import Endpoint, PublicFront
from stackproof.errors import ProfileError
from stackproof.procs import UNPRIVILEGED_UID, ProcessSpec, is_root
from stackproof.profile.model import Profile, Service
from stackproof.profile.template import TemplateError, render
from stackproof.readiness import Condition
from stackproof.run import RunContext

LOOPBACK = "127.0.0.1"


def shared_placeholders(
    *,
    run_id: str,
    front: PublicFront,
    tls: Mapping[str, Path],
    discord_public_key: str,
    secrets: Mapping[str, str],
    ops: Mapping[str, str] | None = None,
    python: str = sys.executable,
) -> dict[str, Any]:
    """Placeholders every service of a stack sees (`ops`: the stack's ops folder, see ops.py)."""
    assert front.http is not None  # the process backend always runs plain HTTP beside HTTPS
    return {
        "python": python,
        "run_id": run_id,
        "public": {
            "host": front.host,
            "https_port": str(front.https.port),
            "http_port": str(front.http.port),
            "https_authority": front.https_authority,
        },
        "tls": {name: str(path) for name, path in tls.items()},
        "discord": {"public_key": discord_public_key},
        "secret": dict(secrets),
        "ops": dict(ops or {}),
    }


def service_placeholders(
    *,
    name: str,
    ports: Mapping[str, int],
    state_dir: Path,
    logs_dir: Path,
    root: Path,
    shared: Mapping[str, Any],
    links: Mapping[str, Mapping[str, str]],
) -> dict[str, Any]:
    """Placeholders one service's run settings may use."""
    return {
        **shared,
        "service": name,
        "port": {port: str(number) for port, number in ports.items()},
        "listen": {port: f"{LOOPBACK}:{number}" for port, number in ports.items()},
        "dir": {"state": str(state_dir), "logs": str(logs_dir), "root": str(root)},
        "log": {
            "access": str(logs_dir / f"{name}.access.log"),
            "error": str(logs_dir / f"{name}.error.log"),
        },
        "link": links,
    }


@dataclass
class ServiceContext:
    """Everything a service module needs to run one service of one stack."""

    name: str
    spec: Service
    profile: Profile
    run: RunContext
    ports: dict[str, int]
    state_dir: Path
    logs_dir: Path
    shared: Mapping[str, Any]  # stack-wide placeholders: python, public, tls, discord, ...
    links: dict[str, dict[str, str]] = field(default_factory=dict)  # filled before prepare

    @property
    def stack_root(self) -> Path:
        root = self.profile.stack.root
        assert root is not None  # ProcessBackend.check demands it
        return root

    @property
    def log_path(self) -> Path:
        return self.logs_dir / f"{self.name}.log"

    def endpoint(self, port: str | None = None) -> Endpoint:
        return Endpoint(LOOPBACK, self.ports[port or self.spec.primary_port])

    def placeholders(self) -> dict[str, Any]:
        return service_placeholders(
            name=self.name,
            ports=self.ports,
            state_dir=self.state_dir,
            logs_dir=self.logs_dir,
            root=self.stack_root,
            shared=self.shared,
            links=self.links,
        )

    def render(self, text: str, key: str) -> str:
        """Render a profile string; `key` names it in the error a typo produces."""
        try:
            return render(text, self.placeholders())
        except TemplateError as error:
            raise ProfileError(f"services.{self.name}.{key}: {error}") from None

    def base_env(self) -> dict[str, str]:
        venv_bin = str(Path(sys.executable).parent)
        return {
            "PATH": os.pathsep.join([venv_bin, os.environ.get("PATH", "/usr/bin:/bin")]),
            "LANG": "C.UTF-8",
            "HOME": str(self.state_dir),
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

    def process_spec(
        self, argv: Sequence[str], env: Mapping[str, str] | None = None, *, label: str = ""
    ) -> ProcessSpec:
        return ProcessSpec(
            name=f"{self.name}{label}",
            argv=tuple(argv),
            env={**self.base_env(), **(env or {})},
            cwd=self.stack_root,
            log_path=self.log_path,
        )


class ProcessService(ABC):
    """A service kind on the process backend: one module per kind."""

    # The names of `link_facts`, known before anything runs so profiles can be checked.
    LINK_FACTS: tuple[str, ...] = ("url", "host", "port", "address")

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    @property
    def ready_timeout_s(self) -> float:
        return self.context.spec.process.ready_timeout_s

    @property
    def name(self) -> str:
        return self.context.name

    def prepare(self) -> Sequence[ProcessSpec]:
        """Create files and return one-shot commands to run before the first start."""
        return ()

    @abstractmethod
    def command(self) -> ProcessSpec:
        """The long-running process."""

    @abstractmethod
    def readiness(self) -> Condition:
        """What must hold before dependants may start."""

    def after_first_ready(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """One-time work against the running service (create roles, databases)."""

    @abstractmethod
    def link_facts(self, endpoint: Endpoint) -> dict[str, str]:
        """What a linked service learns about this one when it reaches it at `endpoint`."""

    def log_files(self) -> list[Path]:
        return [self.context.log_path]

    def pid_files(self) -> list[Path]:
        """Pid files the service writes. `stackproof clean` finds by them what a killed harness
        left (nginx clears its workers' environment): the process named, if its command line
        still holds the service's state folder, and the group it led."""
        return []

    def wipe_state(self) -> None:
        """Take away what the service keeps on disk (its state folder); `prepare` makes it anew.

        The folder is renamed aside, which is instant whatever its size, as a lost disk is:
        deleting a large database here would count as recovery time in a restore drill. It
        lies in the stack's temporary folder, which goes with the stack.
        """
        state = self.context.state_dir
        if state.exists():
            earlier = sum(1 for _ in state.parent.glob(f"{state.name}.wiped-*"))
            state.rename(state.with_name(f"{state.name}.wiped-{earlier + 1}"))

    def exec_env(self) -> dict[str, str]:
        """Environment for commands run beside this service (`exec`)."""
        return self.context.base_env()

    def owned_state_dir(self) -> Path:
        """The state folder, owned by the unprivileged user when the service must drop root."""
        folder = self.context.state_dir
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        if is_root():
            os.chown(folder, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
        return folder
