"""Readiness: conditions polled until they hold or a deadline passes. Never a bare sleep.

A wait that times out names what was awaited, what was last seen, a hint, and the log tail
of the service concerned, so the error alone tells the user where to look.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature

from stackproof.errors import ReadinessTimeoutError, ServiceStartError, WaitCancelledError

DEFAULT_INTERVAL_S = 0.05


@dataclass(frozen=True, slots=True)
class Check:
    """One look at a condition: did it hold, and what was seen."""

    ok: bool
    seen: str


class Condition(Protocol):
    """Something that can be looked at repeatedly."""

    @property
    def description(self) -> str: ...

    def check(self) -> Check: ...


@dataclass(frozen=True, slots=True)
class Deadline:
    """A point in monotonic time."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> float:
        return max(0.0, self.seconds - self.elapsed())

    def expired(self) -> bool:
        return self.elapsed() >= self.seconds


@dataclass(frozen=True, slots=True)
class HttpStatus:
    """An HTTP GET answers with one of `statuses`."""

    url: str
    statuses: frozenset[int] = frozenset({200})
    verify: bool | ssl.SSLContext = True
    timeout_s: float = 1.0

    @property
    def description(self) -> str:
        wanted = "/".join(str(s) for s in sorted(self.statuses))
        return f"GET {self.url} answers {wanted}"

    def check(self) -> Check:
        try:
            response = httpx.get(self.url, verify=self.verify, timeout=self.timeout_s)
        except httpx.HTTPError as error:
            return Check(False, f"{type(error).__name__}: {error}")
        return Check(response.status_code in self.statuses, f"status {response.status_code}")


@dataclass(frozen=True, slots=True)
class TcpPort:
    """A TCP connection to host:port is accepted."""

    host: str
    port: int
    timeout_s: float = 0.5

    @property
    def description(self) -> str:
        return f"TCP {self.host}:{self.port} accepts connections"

    def check(self) -> Check:
        try:
            with socket.create_connection((self.host, self.port), timeout=self.timeout_s):
                return Check(True, "connected")
        except OSError as error:
            return Check(False, f"{type(error).__name__}: {error}")


def _status_line(conn: socket.socket, host: str, path: str) -> str:
    """Send one GET and return the answer's status line (raise OSError without one)."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    conn.sendall(request.encode("ascii"))
    received = b""
    while b"\r\n" not in received and len(received) < 4096:
        chunk = conn.recv(4096)
        if not chunk:
            break
        received += chunk
    line = received.split(b"\r\n", 1)[0].decode("latin-1")
    if not line.startswith("HTTP/") or len(line.split()) < 2:
        raise OSError(f"no HTTP answer (got {line[:60]!r})")
    return line


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    """A plain HTTP GET gets an answer, whatever its status: a server speaks HTTP there."""

    host: str
    port: int
    path: str = "/"
    host_header: str = "localhost"
    timeout_s: float = 1.0

    @property
    def description(self) -> str:
        return f"http://{self.host}:{self.port}{self.path} answers HTTP"

    def check(self) -> Check:
        try:
            with socket.create_connection((self.host, self.port), self.timeout_s) as conn:
                conn.settimeout(self.timeout_s)
                return Check(True, _status_line(conn, self.host_header, self.path))
        except OSError as error:
            return Check(False, f"{type(error).__name__}: {error}")


@dataclass(frozen=True, slots=True)
class HttpsAnswer:
    """A TLS handshake presents a certificate the run's CA issued, and a GET over it gets an
    answer (any status): the server holding the run's key serves, not whatever else listens.

    Issued-by is checked, not a full verification: the certificate's names and dates are
    what the TLS suite judges (a mutant with the wrong name must start and fail R-TLS-6)."""

    host: str
    port: int
    server_name: str
    ca_path: Path
    path: str = "/"
    timeout_s: float = 1.0

    @property
    def description(self) -> str:
        return (
            f"https://{self.host}:{self.port}{self.path} completes a TLS handshake with a "
            "certificate of the run's CA and answers HTTP"
        )

    def check(self) -> Check:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # issued-by is checked below, names and dates not
        try:
            with (
                socket.create_connection((self.host, self.port), self.timeout_s) as raw,
                context.wrap_socket(raw, server_hostname=self.server_name) as conn,
            ):
                conn.settimeout(self.timeout_s)
                if problem := self._not_ours(conn.getpeercert(binary_form=True)):
                    return Check(False, problem)
                return Check(True, _status_line(conn, self.server_name, self.path))
        except (OSError, ssl.SSLError) as error:
            return Check(False, f"{type(error).__name__}: {error}")

    def _not_ours(self, der: bytes | None) -> str | None:
        if der is None:
            return "the server presented no certificate"
        issuer = x509.load_pem_x509_certificate(self.ca_path.read_bytes())
        try:
            x509.load_der_x509_certificate(der).verify_directly_issued_by(issuer)
        except (ValueError, TypeError, InvalidSignature) as error:
            return f"its certificate is not one of the run's CA ({error or type(error).__name__})"
        return None


@dataclass(frozen=True, slots=True)
class CommandSucceeds:
    """A command exits 0."""

    argv: Sequence[str]
    env: dict[str, str] | None = None
    timeout_s: float = 5.0

    @property
    def description(self) -> str:
        return f"`{' '.join(self.argv)}` exits 0"

    def check(self) -> Check:
        try:
            done = subprocess.run(
                list(self.argv),
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            return Check(False, str(error))
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        return Check(done.returncode == 0, f"exit {done.returncode} {tail[0]}".strip())


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every condition holds at once."""

    conditions: tuple[Condition, ...]

    @property
    def description(self) -> str:
        return " and ".join(c.description for c in self.conditions)

    def check(self) -> Check:
        for condition in self.conditions:
            seen = condition.check()
            if not seen.ok:
                return Check(False, f"{condition.description}: {seen.seen}")
        return Check(True, "all hold")


def wait_for(
    condition: Condition,
    *,
    timeout_s: float,
    what: str,
    hint: str | None = None,
    log_tail: Callable[[], str] | None = None,
    give_up: Callable[[], str | None] | None = None,
    interval_s: float = DEFAULT_INTERVAL_S,
    cancel: threading.Event | None = None,
) -> float:
    """Poll `condition` until it holds; return the seconds it took.

    `give_up` returns a reason when waiting longer is pointless (the process exited), which
    ends the wait at once instead of at the deadline. `cancel` lets another thread end it.
    """
    deadline = Deadline(timeout_s)
    pause = cancel or threading.Event()
    while True:
        seen = condition.check()
        if seen.ok:
            return deadline.elapsed()
        reason = give_up() if give_up else None
        if reason is None and deadline.expired():
            reason = f"not met within {timeout_s:g} s"
        if reason is not None:
            error: ServiceStartError = (
                ReadinessTimeoutError if deadline.expired() else ServiceStartError
            )(f"{what}: expected {condition.description}; {reason}; last seen: {seen.seen}")
            if hint:
                error.add_note(f"hint: {hint}")
            if log_tail and (tail := log_tail().strip()):
                error.add_note(f"log tail of {what}:\n{tail}")
            raise error
        # The poll interval of a deadline-bounded wait; an Event so a shutdown can cut it short.
        if pause.wait(min(interval_s, deadline.remaining())):
            raise WaitCancelledError(f"{what}: wait cancelled")
