"""Redis as a local process: loopback only, a password, no persistence.

Its settings go in a config file (mode 0600), not on its command line: there the password
would show in every process listing, and a generated one that starts with `--` is read as
the next option (`requirepass` then has no argument and Redis refuses to start).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import quote

from stackproof import binaries
from stackproof.backends.process.service import LOOPBACK, ProcessService, ServiceContext
from stackproof.backends.values import Endpoint
from stackproof.procs import UNPRIVILEGED_UID, ProcessSpec, is_root
from stackproof.readiness import Check


def _command(*parts: str) -> bytes:
    encoded = [part.encode() for part in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)


def _quoted(value: str) -> str:
    """A config file argument as Redis reads one: in double quotes, escaped."""
    escaped = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    parts = []
    for char in value:
        if char in escaped:
            parts.append(escaped[char])
        elif char.isascii() and char.isprintable():
            parts.append(char)
        else:
            parts.extend(f"\\x{byte:02x}" for byte in char.encode())
    return '"' + "".join(parts) + '"'


def config_text(settings: dict[str, object]) -> str:
    """One directive a line, each value one argument: what `--name value` on the command
    line meant."""
    return "".join(f"{name} {_quoted(str(value))}\n" for name, value in settings.items())


@dataclass(frozen=True, slots=True)
class AnswersPing:
    """AUTH then PING answer +OK and +PONG (RESP spoken directly: no client library needed)."""

    endpoint: Endpoint
    password: str

    @property
    def description(self) -> str:
        return f"Redis on {self.endpoint.address} answers PING"

    def check(self) -> Check:
        try:
            with socket.create_connection((self.endpoint.host, self.endpoint.port), 1.0) as conn:
                conn.sendall(_command("AUTH", self.password) + _command("PING"))
                answer = b""
                while answer.count(b"\r\n") < 2:
                    chunk = conn.recv(256)
                    if not chunk:
                        break
                    answer += chunk
        except OSError as error:
            return Check(False, f"{type(error).__name__}: {error}")
        return Check(answer == b"+OK\r\n+PONG\r\n", answer.decode(errors="replace").strip())


class RedisService(ProcessService):
    LINK_FACTS = (*ProcessService.LINK_FACTS, "password")

    def __init__(self, context: ServiceContext) -> None:
        super().__init__(context)
        self.password = context.run.secrets.generate(f"{context.name}.password")
        self.binary = binaries.redis_server(context.spec.process.binary)

    def command(self) -> ProcessSpec:
        state = self.owned_state_dir()
        settings: dict[str, object] = {
            "port": self.context.ports[self.context.spec.primary_port],
            "bind": LOOPBACK,
            "protected-mode": "yes",
            "requirepass": self.password,
            "save": "",
            "appendonly": "no",
            "dir": str(state),
            "daemonize": "no",
            **self.context.spec.process.settings,
        }
        config = state / "redis.conf"
        config.write_text(config_text(settings), "utf-8")
        config.chmod(0o600)
        if is_root():  # read by the unprivileged user the server runs as
            os.chown(config, UNPRIVILEGED_UID, UNPRIVILEGED_UID)
        return self.context.process_spec([str(self.binary), str(config)])

    def readiness(self) -> AnswersPing:
        return AnswersPing(self.context.endpoint(), self.password)

    def link_facts(self, endpoint: Endpoint) -> dict[str, str]:
        return {
            "url": f"redis://:{quote(self.password, safe='')}@{endpoint.address}/0",
            "host": endpoint.host,
            "port": str(endpoint.port),
            "address": endpoint.address,
            "password": self.password,
        }
