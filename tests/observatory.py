"""The MDN HTTP Observatory's own scan of a stack's front, inside a network namespace.

The Observatory (`@mdn/mdn-http-observatory`, its `src/scan.js`) scans a host name on ports
80 and 443 only. So the scan runs in a network and mount namespace of its own
(`unshare --net --mount`): there the front's public host name resolves to the namespace's
loopback (a hosts file bound over `/etc/hosts`, in that mount namespace only), and ports 80,
443 and the front's own HTTPS port (which the plain-HTTP redirect names) listen. Those
listening sockets are made inside the namespace and handed to this process over a Unix
socket pair, and this process relays each connection to the front on the host's loopback:
TLS runs end to end, the certificate checked against the run's CA. Nothing leaves loopback,
and the namespace goes away with the scan's last process.

Installed with `--ignore-scripts` (`cd tests/mdn-observatory && npm ci --ignore-scripts`
installs the pinned tree, as CI does): its post-install downloads (Chromium's HSTS preload
list, the TLD list) cannot be reached here. The scan reads the preload list, so
`conf/hsts-preload.json` must exist: `{}` says no host is preloaded, which holds for a test
host name.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackproof.backends.values import Endpoint, PublicFront

PACKAGE = Path("@mdn") / "mdn-http-observatory"
INSTALL = "mdn-observatory"  # tests/mdn-observatory: package.json and lock of a pinned install
ENV_PATH = "STACKPROOF_OBSERVATORY"
SCAN_TIMEOUT_S = 120.0
RELAY_CHUNK = 65536

# Run inside the namespaces: make the listeners there, hand them over, then become the scan.
_INSIDE = r"""
import json, os, socket, subprocess, sys
channel_fd, hosts, ports, command = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
subprocess.run(["mount", "--bind", hosts, "/etc/hosts"], check=True)
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
channel = socket.socket(fileno=channel_fd)
listeners, where = [], []
for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    for port in map(int, ports.split(",")):
        listener = socket.socket(family, socket.SOCK_STREAM)
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listener.bind((address, port))
        listener.listen(64)
        listeners.append(listener)
        where.append(port)
socket.send_fds(channel, [json.dumps(where).encode()], [s.fileno() for s in listeners])
channel.recv(1)  # the relay holds them now
for listener in listeners:
    listener.close()
channel.close()
os.execvp(command[0], command)
"""


def find_observatory(root: Path) -> Path | None:
    """The installed package: `$STACKPROOF_OBSERVATORY`, the pinned install beside the tests
    (`tests/mdn-observatory`, as CI makes it), the project's `node_modules`, or npm's global
    folder."""
    if named := os.environ.get(ENV_PATH):
        return Path(named)
    candidates = [
        root / "tests" / INSTALL / "node_modules" / PACKAGE,
        root / "node_modules" / PACKAGE,
    ]
    if npm := shutil.which("npm"):
        with suppress(OSError, subprocess.SubprocessError):
            done = subprocess.run(
                [npm, "root", "--global"], capture_output=True, text=True, timeout=30, check=False
            )
            if done.returncode == 0 and done.stdout.strip():
                candidates.append(Path(done.stdout.strip()) / PACKAGE)
    return next((c for c in candidates if (c / "src" / "scan.js").is_file()), None)


def unavailable(package: Path | None) -> str | None:
    """Why the scan cannot run here, or None."""
    if package is None:
        return (
            "the MDN HTTP Observatory is not installed (cd tests/mdn-observatory && npm ci "
            f"--ignore-scripts; or name an installed one's folder in ${ENV_PATH})"
        )
    if not (package / "conf" / "hsts-preload.json").is_file():
        return (
            f"{package}/conf/hsts-preload.json is missing (its post-install download, skipped "
            "by --ignore-scripts): write {} there, no test host is preloaded"
        )
    missing = [tool for tool in ("node", "unshare", "ip", "mount") if shutil.which(tool) is None]
    if missing:
        return f"{', '.join(missing)} not found: the scan needs them for its network namespace"
    if os.geteuid() != 0:
        return "the scan's network namespace needs root (unshare --net --mount)"
    return None


@dataclass(frozen=True)
class Scan:
    """The Observatory's JSON: `scan` (grade, score, ...) and `tests` (one per test name)."""

    document: dict[str, Any]

    @property
    def grade(self) -> str:
        return str(self.document["scan"]["grade"])

    @property
    def score(self) -> int:
        return int(self.document["scan"]["score"])

    @property
    def tests(self) -> dict[str, dict[str, Any]]:
        return dict(self.document["tests"])


class _Relay:
    """Accepts on listeners made in the namespace; pipes each connection to its target."""

    def __init__(self, routes: list[tuple[socket.socket, Endpoint]]) -> None:
        self._routes = routes
        self._threads: list[threading.Thread] = []
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        for listener, target in self._routes:
            self._spawn(self._accept, listener, target)

    def _spawn(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket, target: Endpoint) -> None:
        while True:
            try:
                inside, _ = listener.accept()
            except OSError:
                return  # the listener was shut down: the scan is over
            try:
                outside = socket.create_connection((target.host, target.port), timeout=10)
            except OSError:
                inside.close()
                continue
            outside.settimeout(None)
            with self._lock:
                self._open.extend((inside, outside))
            self._spawn(self._pipe, inside, outside)
            self._spawn(self._pipe, outside, inside)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(RELAY_CHUNK):
                sink.sendall(chunk)
        except OSError:
            pass
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        for listener, _ in self._routes:
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)  # wakes its accept() on Linux
            listener.close()
        with self._lock:
            connections, threads = list(self._open), list(self._threads)
        for connection in connections:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        for thread in threads:
            thread.join(timeout=5)


@contextmanager
def _hosts_file(name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="stackproof-observatory-") as folder:
        path = Path(folder) / "hosts"
        path.write_text(f"127.0.0.1 localhost {name}\n::1 localhost {name}\n", "utf-8")
        yield path


def scan(package: Path, front: PublicFront, timeout_s: float = SCAN_TIMEOUT_S) -> Scan:
    """The Observatory's scan of `front` by its public host name, as if on ports 80/443."""
    if front.http is None:
        raise ValueError("the Observatory needs the front's plain-HTTP port too")
    targets = {80: front.http, 443: front.https, front.https.port: front.https}
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = {**os.environ, "NODE_EXTRA_CA_CERTS": str(front.ca_bundle or "")}
    with ExitStack() as scope:
        hosts = scope.enter_context(_hosts_file(front.host))
        # Dies with this process (setpriv), and takes the scan with it (--kill-child).
        dies_with_us = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
        command = [
            *dies_with_us,
            "unshare", "--net", "--mount", "--fork", "--kill-child", "--",
            sys.executable, "-c", _INSIDE, str(theirs.fileno()), str(hosts),
            ",".join(map(str, targets)),
            "node", str(package / "src" / "scan.js"), front.host,
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            pass_fds=[theirs.fileno()],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        scope.callback(_end, process)
        theirs.close()
        try:
            message, fds, _flags, _address = socket.recv_fds(ours, 4096, 16)
        except OSError as error:
            raise RuntimeError(f"the namespace sent no listeners: {_said(process)}") from error
        if not fds:
            raise RuntimeError(f"the namespace sent no listeners: {_said(process)}")
        ports = json.loads(message)
        listeners = [socket.socket(fileno=fd) for fd in fds]
        relay = _Relay([(s, targets[p]) for s, p in zip(listeners, ports, strict=True)])
        relay.start()
        scope.callback(relay.close)
        ours.sendall(b"g")
        ours.close()
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired as error:
            raise RuntimeError(f"the Observatory's scan took over {timeout_s:g} s") from error
    try:
        document = json.loads(stdout)
    except json.JSONDecodeError as error:
        raise RuntimeError(f"the scan printed no JSON: {stdout[-500:]} {stderr[-1500:]}") from error
    if "error" in document and "scan" not in document:
        raise RuntimeError(f"the Observatory could not scan: {document['error']} {stderr[-800:]}")
    return Scan(document)


def _said(process: subprocess.Popen[str]) -> str:
    with suppress(subprocess.TimeoutExpired):
        _out, err = process.communicate(timeout=10)
        return f"exit {process.returncode}: {err[-800:]}"
    return "no exit"


def _end(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)
