"""What the suites see of the host a stack runs on (R-HOST-*, R-TLS-8): commands, testinfra's
modules, forwarded ports, and how each service runs there.

Protocols only (and one value type), imported by the interface: a backend that can reach a
host implements them (the remote backend, over SSH); `Stack.host()` elsewhere says what
would enable it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from stackproof.backends.values import Endpoint


@dataclass(frozen=True, slots=True)
class CommandRun:
    """What a command on the host did."""

    command: str
    exit_status: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_status == 0

    def describe(self) -> str:
        said = (self.stderr or self.stdout).strip()[-400:]
        return f"`{self.command}` exited {self.exit_status}" + (f": {said}" if said else "")


@dataclass(frozen=True, slots=True)
class ProcessOwner:
    pid: int
    user: str
    command: str


class HostedService(Protocol):
    """One service of the stack as it runs on the host."""

    @property
    def name(self) -> str: ...

    @property
    def runtime(self) -> str:
        """systemd, container or process."""
        ...

    @property
    def target(self) -> str:
        """The unit, the container's name, or the process pattern."""
        ...

    def configured_user(self) -> str | None:
        """The user it is configured to run as (User=, the container's Config.User);
        None when nothing is configured (it then runs as root)."""
        ...

    def processes(self) -> list[ProcessOwner]:
        """Its running processes and their users, as the host's kernel tells it."""
        ...

    def inspect(self) -> dict[str, Any] | None:
        """`docker inspect` of its container (None for other runtimes)."""
        ...

    def environment(self) -> dict[str, str]:
        """Its environment as configured (an env file, Environment=, the container's Env)."""
        ...


class HostAccess(Protocol):
    @property
    def name(self) -> str:
        """The login, e.g. deploy@staging.example.org:22."""
        ...

    @property
    def testinfra(self) -> Any:
        """A testinfra `Host` on the connection (file, socket, user, package, ...)."""
        ...

    def run(self, command: str, *args: str) -> CommandRun: ...

    def root(self, argv: Sequence[str]) -> CommandRun:
        """A command that needs root, through `sudo -n` where the login is not root."""
        ...

    def forward(self, host: str, port: int) -> AbstractContextManager[Endpoint]:
        """For the block, an endpoint here that reaches `host:port` as the host reaches it."""
        ...

    def services(self) -> Mapping[str, HostedService]:
        """The services the profile says how they run on the host."""
        ...
