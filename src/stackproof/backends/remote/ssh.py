"""One SSH connection to a staging host for the whole run, through testinfra's paramiko backend.

testinfra's own paramiko backend accepts an unknown host key with a warning (paramiko's
`WarningPolicy`), and reconnects the same way: here the connection is made by
`SshConnector`, which checks the key against the profile's known_hosts file and refuses
anything else with an error naming the host, the key's fingerprint and what to do. The
testinfra `Host` on top gives files, sockets, users, packages and commands; TCP forwarding
through the same connection lets the harness reach what only the host reaches (a database
on its private network), as `ssh -L` would.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import select
import shlex
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paramiko
from testinfra.backend.paramiko import ParamikoBackend
from testinfra.host import Host

from stackproof.backends.hosts import CommandRun
from stackproof.backends.values import Endpoint
from stackproof.errors import BackendUnavailableError

FORWARD_BUFFER = 65536


class UnknownHostKeyError(BackendUnavailableError):
    """The host offered a key known_hosts does not hold (or holds another one for it)."""


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's form: SHA256:<base64 without padding>."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


class _RefuseUnknownKeys(paramiko.MissingHostKeyPolicy):  # type: ignore[misc]
    def __init__(self, known_hosts: Path, port: int) -> None:
        self.known_hosts = known_hosts
        self.port = port

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        name = hostname  # paramiko already gives "[host]:port" for other ports
        host, _, _ = name.strip("[").partition("]")
        scan = f"ssh-keyscan -p {self.port} {host or name}"
        raise UnknownHostKeyError(
            f"the SSH host key of {name} is not in {self.known_hosts}: it offered "
            f"{key.get_name()} {fingerprint(key)}. stackproof never accepts an unknown host key. "
            f"Compare that fingerprint with the host's own (`ssh-keygen -lf "
            f"/etc/ssh/ssh_host_ed25519_key.pub` on it), then add the key: "
            f"`{scan} >> {self.known_hosts}` (or set remote.known_hosts)"
        )


@dataclass(frozen=True, slots=True)
class SshTarget:
    user: str
    host: str
    port: int
    known_hosts: Path
    identity_file: Path | None  # None: the SSH agent
    timeout_s: float

    @property
    def login(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


class SshConnector:
    """Makes the one paramiko client of a run, strictly."""

    def __init__(self, target: SshTarget) -> None:
        self.target = target

    def connect(self) -> paramiko.SSHClient:
        target = self.target
        if not target.known_hosts.is_file():
            raise UnknownHostKeyError(
                f"remote.known_hosts: {target.known_hosts} does not exist, so no host key of "
                f"{target.host} can be checked. Create it with the host's key "
                f"(`ssh-keyscan -p {target.port} {target.host} >> {target.known_hosts}` after "
                "comparing the fingerprint with the host's own)"
            )
        if target.identity_file is not None and not target.identity_file.is_file():
            raise BackendUnavailableError(
                f"remote.identity_file: {target.identity_file} does not exist"
            )
        client = paramiko.SSHClient()
        client.get_host_keys().load(str(target.known_hosts))  # read only: never written
        client.set_missing_host_key_policy(_RefuseUnknownKeys(target.known_hosts, target.port))
        options: dict[str, Any] = {
            "hostname": target.host,
            "port": target.port,
            "username": target.user,
            "timeout": target.timeout_s,
            "banner_timeout": target.timeout_s,
            "auth_timeout": target.timeout_s,
            "look_for_keys": False,
            "allow_agent": target.identity_file is None,
        }
        if target.identity_file is not None:
            options["key_filename"] = str(target.identity_file)
        try:
            client.connect(**options)
        except UnknownHostKeyError:
            client.close()
            raise
        except paramiko.BadHostKeyException as error:
            client.close()
            raise UnknownHostKeyError(
                f"the SSH host key of {target.login} does not match {target.known_hosts}: "
                f"it offered {error.key.get_name()} {fingerprint(error.key)}, known_hosts holds "
                f"{fingerprint(error.expected_key)}. Either the host was rebuilt or something "
                "sits between you and it: check on the host before changing known_hosts"
            ) from None
        except paramiko.AuthenticationException as error:
            client.close()
            how = (
                f"the key {target.identity_file}"
                if target.identity_file is not None
                else "the keys of the SSH agent"
            )
            raise BackendUnavailableError(
                f"SSH to {target.login} refused {how} ({error}). Check remote.ssh (the user) and "
                f"remote.identity_file, and that the key is in ~{target.user}/.ssh/authorized_keys"
            ) from None
        except (OSError, paramiko.SSHException) as error:
            client.close()
            raise BackendUnavailableError(
                f"SSH to {target.login} is unreachable ({type(error).__name__}: {error}). "
                "Check remote.ssh and remote.port, and that the host and its sshd are up"
            ) from None
        return client


class _StrictParamikoBackend(ParamikoBackend):  # type: ignore[misc]
    """testinfra's paramiko backend, connecting (and reconnecting) only through the connector."""

    def __init__(self, connector: SshConnector) -> None:
        target = connector.target
        super().__init__(f"{target.user}@{target.host}:{target.port}")
        self._connector = connector

    @functools.cached_property
    def client(self) -> paramiko.SSHClient:
        return self._connector.connect()


class SshHost:
    """The staging host: commands, testinfra's modules, forwarded ports. Thread-safe enough
    for the suites: paramiko multiplexes channels over one transport."""

    def __init__(self, target: SshTarget, *, sudo: bool) -> None:
        self.target = target
        self.use_sudo = sudo
        self._backend = _StrictParamikoBackend(SshConnector(target))
        self.testinfra = Host(self._backend)
        self._forwards: list[_Forward] = []

    def open(self) -> None:
        """Connect now, so a refusal is told before any check runs."""
        _ = self._backend.client

    @property
    def client(self) -> paramiko.SSHClient:
        client: paramiko.SSHClient = self._backend.client
        return client

    def run(self, command: str, *args: str) -> CommandRun:
        """`command` with `args` quoted into it, as testinfra does."""
        done = self.testinfra.run(command, *args)
        return CommandRun(done.command, done.rc, done.stdout, done.stderr)

    def root(self, argv: Sequence[str]) -> CommandRun:
        """A command that needs root: through `sudo -n` (scoped sudo) unless we are root."""
        prefix = ["sudo", "-n"] if self.use_sudo and self.target.user != "root" else []
        return self.run(shlex.join([*prefix, *argv]))

    @contextlib.contextmanager
    def forward(self, host: str, port: int) -> Iterator[Endpoint]:
        """For the block, 127.0.0.1:<port> here reaches `host:port` as the host reaches it."""
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            raise BackendUnavailableError(f"the SSH connection to {self.target.login} is closed")
        forward = _Forward(transport, host, port)
        forward.start()
        try:
            yield Endpoint("127.0.0.1", forward.port)
        finally:
            forward.stop()

    def close(self) -> None:
        client = self._backend.__dict__.get("client")
        if client is not None:
            client.close()


class _Forward:
    """A local listener whose every connection becomes a direct-tcpip channel of the SSH
    transport (paramiko's forward demo, bounded: it stops with the block)."""

    def __init__(self, transport: paramiko.Transport, host: str, port: int) -> None:
        self.transport = transport
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port: int = self.listener.getsockname()[1]
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        accept = threading.Thread(target=self._accept, name=f"ssh-forward-{self.port}", daemon=True)
        accept.start()
        self._threads.append(accept)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                local, peer = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                channel = self.transport.open_channel("direct-tcpip", self.target, peer)
            except (paramiko.SSHException, OSError):
                local.close()  # the client sees the connection refused, as the host would
                continue
            pump = threading.Thread(target=self._pump, args=(local, channel), daemon=True)
            pump.start()
            self._threads.append(pump)

    def _pump(self, local: socket.socket, channel: paramiko.Channel) -> None:
        with contextlib.closing(local), contextlib.closing(channel):
            while not self._stopping.is_set():
                ready, _, _ = select.select([local, channel], [], [], 0.2)
                if local in ready:
                    data = local.recv(FORWARD_BUFFER)
                    if not data:
                        return
                    channel.sendall(data)
                if channel in ready:
                    data = channel.recv(FORWARD_BUFFER)
                    if not data:
                        return
                    local.sendall(data)

    def stop(self) -> None:
        self._stopping.set()
        self.listener.close()
        for thread in self._threads:
            thread.join(timeout=2.0)
