"""Service control for operations scripts: a small socket the process backend serves.

A deploy or restore script restarts what the harness supervises through it, the way it would
call `systemctl` or `docker compose` elsewhere: `<ops folder>/svcctl restart bot` (see
`stackproof.svcctl`). One JSON line each way over a Unix socket in the stack's ops folder, which is
mode 0700, so only the run's own user can connect (client: `stackproof.svcctl`):

    → {"action": "start" | "stop" | "restart" | "status", "service": ["auth", "bot"], "wait": false}
    ← {"ok": true, "services": {"auth": {"state": "running" | "stopped" | "exited",
                                          "pid": 123, "exit_code": null}, ...}}
    ← {"ok": false, "error": "what went wrong"}

Several services in one request are stopped side by side (like `systemctl stop a b`).
`start` and `restart` return once the process runs (`wait`: once it is ready), like
`systemctl restart` of a simple unit: a deploy polls health itself. A service whose state was
destroyed is provisioned afresh on `start`, which then always waits (it must be bootstrapped).

Requests are served one at a time by one `SpawningThread`, which the stack stops only after
its processes, so every process it spawned still gets the parent-death signal.
"""

from __future__ import annotations

import json
import socketserver
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stackproof.procs import SpawningThread
from stackproof.svcctl import ACTIONS

MAX_REQUEST_BYTES = 4096

Answer = dict[str, Any]
Handler = Callable[[str, tuple[str, ...], bool], Answer]  # (action, services, wait) → answer


def parse_request(line: bytes) -> tuple[str, tuple[str, ...], bool]:
    """The action, services and wait flag of a request line; ValueError says what is wrong."""
    try:
        request = json.loads(line)
    except ValueError:
        request = None
    if not isinstance(request, dict):
        raise ValueError("a request is one JSON object on one line")  # noqa: TRY004 - bad input
    action, service, wait = request.get("action"), request.get("service"), request.get("wait")
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {', '.join(sorted(ACTIONS))}, got {action!r}")
    names = [service] if isinstance(service, str) else service
    if not isinstance(names, list) or not names or not all(isinstance(n, str) and n for n in names):
        raise ValueError("service must name a service of the stack (or a list of them)")
    return action, tuple(names), bool(wait)


class _RequestHandler(socketserver.StreamRequestHandler):
    server: _Server

    def handle(self) -> None:
        line = self.rfile.readline(MAX_REQUEST_BYTES)
        try:
            action, service, wait = parse_request(line)
            answer = self.server.handler(action, service, wait)
        except Exception as error:  # every failure goes back to the caller
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        self.wfile.write(json.dumps(answer).encode() + b"\n")


class _Server(socketserver.UnixStreamServer):
    def __init__(self, path: Path, handler: Handler) -> None:
        self.handler = handler
        super().__init__(str(path), _RequestHandler)


class ControlServer:
    """Serves `handler` on a Unix socket at `path` until `close`."""

    def __init__(self, path: Path, handler: Handler) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        self._server = _Server(path, handler)
        path.chmod(0o600)
        self._thread = SpawningThread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"stackproof-control-{path.parent.name}",
            daemon=True,
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()
        self.path.unlink(missing_ok=True)
