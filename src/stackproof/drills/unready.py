"""A release that starts and listens but is never ready: every request gets 503.

    python -m stackproof.drills.unready --port N --log FILE

Each request is logged as a JSON line (`t`: monotonic seconds of its arrival, `path`,
`agent`), so a drill sees when and how often a deploy polled it (R-DEP-1); its own start
first, as `{"event": "started", "t": ...}` (in the clock of its probes, for stacks on
another host whose starts the harness cannot time); a port it cannot listen on is logged as
`{"event": "listen_failed", "error": ...}`. Stops on SIGTERM like any service.

Standard library only: a drill ships this file inside a release and runs it with the
stack's own interpreter.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()


def _append(log: Path, record: dict[str, object]) -> None:
    with _lock, log.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


def make_handler(log: Path) -> type[BaseHTTPRequestHandler]:
    class Unready(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            # Timed on arrival: a write held up (another request's, a busy disk) must not
            # make a probe look late.
            arrived = time.monotonic()
            agent = self.headers.get("User-Agent", "")
            _append(log, {"t": arrived, "path": self.path, "agent": agent})
            body = b'{"status": "unready", "failing": ["release"]}'
            self.send_response(503)
            self.send_header("Content-Type", "application/json")
            self.send_header("Retry-After", "5")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    return Unready


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--log", type=Path, required=True)
    args, _ = parser.parse_known_args(argv)  # the service manager's own options are ignored
    _append(args.log, {"event": "started", "t": time.monotonic()})
    try:
        server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.log))
    except OSError as error:  # the port is taken: say so, for the drill to tell from a finding
        _append(args.log, {"event": "listen_failed", "error": str(error), "t": time.monotonic()})
        print(f"cannot listen on 127.0.0.1:{args.port}: {error}", file=sys.stderr)
        return 1
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
