"""The host of a compose stack, as the host suite sees one (`backends.hosts.HostAccess`).

The host is this machine's Docker engine, and the suite judges what the stack's containers
show of it: the ports they publish (R-HOST-3: on 127.0.0.1 or an internal network only),
their users as configured and as their processes run (R-HOST-4), their log rotation, restart
policy and health check (R-HOST-5), the database they reach (R-HOST-6), all from `docker
inspect` and the engine's view of their processes. What belongs to the machine itself — its
firewall (R-HOST-1), fail2ban (R-HOST-2) — is the machine the harness runs on, not the
stack's: every command that would read it (`root`) says so, and those checks skip.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackproof.backends.hosts import CommandRun, ProcessOwner
from stackproof.backends.values import Endpoint
from stackproof.containers.engine import engine_url
from stackproof.errors import CapabilityMissingError

if TYPE_CHECKING:
    from stackproof.backends.compose.stack import ComposeStack

NOT_THE_STACKS = (
    "the compose backend's host is the machine the harness runs on, not the stack's: its "
    "firewall and fail2ban are this machine's and are never judged here"
)
ADDRESSES = "ip -j address show"


class ComposeHostedService:
    """One service of the profile: its container, as the engine shows it."""

    runtime = "container"

    def __init__(self, stack: ComposeStack, name: str) -> None:
        self._stack = stack
        self.name = name
        self._compose_name = stack.settings.compose_name(name)

    @property
    def target(self) -> str:
        try:
            return str(self._stack.container(self._compose_name).name)
        except LookupError:
            return self._compose_name

    def inspect(self) -> dict[str, Any] | None:
        try:
            container = self._stack.container(self._compose_name)
        except LookupError:
            return None
        attrs: dict[str, Any] = container.attrs
        return attrs

    def configured_user(self) -> str | None:
        """Config.User's user part (`0:0` is user 0, root); None when none is configured."""
        inspect = self.inspect()
        user = str((inspect or {}).get("Config", {}).get("User") or "").partition(":")[0]
        return user or None

    def processes(self) -> list[ProcessOwner]:
        """Its processes as the engine lists them (`docker top`: the kernel's view, users by
        number where the host has no name for them)."""
        try:
            container = self._stack.container(self._compose_name)
        except LookupError:
            return []
        if not container.attrs["State"].get("Running"):
            return []
        top = container.top(ps_args="-eo pid,user,args")
        titles = top.get("Titles") or []
        pid, user, args = (titles.index(t) for t in ("PID", "USER", "COMMAND"))
        return [
            ProcessOwner(int(row[pid]), str(row[user]), str(row[args]))
            for row in top.get("Processes") or []
        ]

    def environment(self) -> dict[str, str]:
        """Config.Env, and the secrets its entrypoint puts in the environment (the reference
        images' `with-secrets`: a file per secret, named in upper case)."""
        inspect = self.inspect() or {}
        found = dict(
            item.split("=", 1) for item in inspect.get("Config", {}).get("Env") or [] if "=" in item
        )
        found.update(self._stack.secret_environment(self._compose_name))
        return found


@dataclass(frozen=True)
class _Sockets:
    stack: ComposeStack

    def get_listening_sockets(self) -> list[str]:
        """What the stack's containers publish on this host, in testinfra's form."""
        found = []
        for container in self.stack.all_containers():
            ports = container.attrs["NetworkSettings"].get("Ports") or {}
            for spec, bindings in ports.items():
                protocol = spec.partition("/")[2]
                for binding in bindings or []:
                    address = binding.get("HostIp") or "0.0.0.0"  # noqa: S104 - what Docker means
                    host = f"[{address}]" if ":" in address else address
                    found.append(f"{protocol or 'tcp'}://{host}:{binding['HostPort']}")
        return sorted(set(found))


@dataclass(frozen=True)
class _Testinfra:
    """The part of testinfra's `Host` the host suite reads: the listening sockets."""

    socket: _Sockets


class ComposeHost:
    def __init__(self, stack: ComposeStack) -> None:
        self._stack = stack

    @property
    def name(self) -> str:
        return f"the Docker engine at {engine_url()} (project {self._stack.project.name})"

    @property
    def testinfra(self) -> _Testinfra:
        return _Testinfra(_Sockets(self._stack))

    def run(self, command: str, *args: str) -> CommandRun:
        """Only the host's addresses (`ip -j address show`), with the project's container
        names as addresses of its network: a link to one of them stays on this host."""
        if command != ADDRESSES or args:
            raise CapabilityMissingError(
                f"`{command}`: {NOT_THE_STACKS}", enable="backend remote (a staging host)"
            )
        done = subprocess.run(
            ["ip", "-j", "address", "show"], capture_output=True, text=True, timeout=10, check=False
        )
        interfaces = json.loads(done.stdout or "[]") if done.returncode == 0 else []
        names = self._stack.container_addresses()
        interfaces.append(
            {"ifname": f"br-{self._stack.project.name}",
             "addr_info": [{"local": name} for name in names]}
        )  # fmt: skip
        return CommandRun(command, 0, json.dumps(interfaces), done.stderr)

    def root(self, argv: Sequence[str]) -> CommandRun:
        raise CapabilityMissingError(
            f"`{' '.join(argv)}`: {NOT_THE_STACKS}", enable="backend remote (a staging host)"
        )

    @contextmanager
    def forward(self, host: str, port: int) -> Iterator[Endpoint]:
        """Where the harness reaches `host:port` as the containers reach it: the port a
        service publishes on 127.0.0.1 (through the fault proxy's upstream, for a proxy)."""
        yield self._stack.reach(host, port)

    def services(self) -> Mapping[str, ComposeHostedService]:
        return {
            name: ComposeHostedService(self._stack, name) for name in self._stack.profile.services
        }


def secret_files(config_service: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Path]:
    """target name -> the file Compose mounts at /run/secrets/<target>."""
    found = {}
    for entry in config_service.get("secrets") or []:
        source = entry["source"] if isinstance(entry, dict) else entry
        target = (entry.get("target") if isinstance(entry, dict) else None) or source
        file = (top.get(source) or {}).get("file")
        if file:
            found[Path(str(target)).name] = Path(file)
    return found
