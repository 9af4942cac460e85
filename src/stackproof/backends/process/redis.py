"""Redis as a local process: loopback only, a password, no persistence."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import quote

from stackproof import binaries
from stackproof.backends.process.service import LOOPBACK, ProcessService, ServiceContext
from stackproof.backends.values import Endpoint
from stackproof.procs import ProcessSpec
from stackproof.readiness import Check


def _command(*parts: str) -> bytes:
    encoded = [part.encode() for part in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)


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
        argv = [str(self.binary)]
        for key, value in settings.items():
            argv += [f"--{key}", str(value)]
        return self.context.process_spec(argv)

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
