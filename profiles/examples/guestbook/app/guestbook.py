"""A guestbook API on the standard library, keeping its entries in MariaDB.

It talks to MariaDB through the `mariadb` command-line client (Debian's mariadb-client), so it
needs no driver: a readiness check is `SELECT 1`, an entry is one INSERT.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEALTH_PATHS = {"/healthz", "/readyz"}
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS entries "
    "(id INT AUTO_INCREMENT PRIMARY KEY, text VARCHAR(500) NOT NULL)"
)
log = logging.getLogger("guestbook")


class Database:
    def __init__(self, host: str, port: str, password: str, timeout_s: int) -> None:
        self.argv = [
            "mariadb", "--no-defaults", "--protocol=tcp", f"--host={host}", f"--port={port}",
            "--user=guestbook", f"--connect-timeout={timeout_s}", "--batch", "--skip-column-names",
            "guestbook",
        ]  # fmt: skip
        self.env = {**os.environ, "MYSQL_PWD": password}
        self.timeout_s = timeout_s

    def query(self, sql: str, *args: str) -> list[str]:
        """Run `sql` with `args` bound as user variables @a0, @a1, ... (never spliced in)."""
        bound = "".join(f"SET @a{i} = FROM_BASE64('{_b64(a)}'); " for i, a in enumerate(args))
        try:
            done = subprocess.run(
                [*self.argv, "-e", bound + sql],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.timeout_s + 1,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            raise ConnectionError("the database did not answer in time") from error
        if done.returncode != 0:
            raise ConnectionError(done.stderr.strip()[:200])
        return done.stdout.splitlines()


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Handler(BaseHTTPRequestHandler):
    server_version = "guestbook"
    sys_version = ""
    db: Database

    def log_message(self, format: str, *args: object) -> None:
        """Replaced by one line per request in `_answer`."""

    def _answer(self, status: int, body: dict[str, object]) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Request-ID", self.request_id)
        if status == 503:
            self.send_header("Retry-After", "5")
        self.end_headers()
        self.wfile.write(payload)
        level = logging.DEBUG if self.path in HEALTH_PATHS else logging.INFO
        log.log(level, "request_id=%s method=%s path=%s status=%d",
                self.request_id, self.command, self.path, status)  # fmt: skip

    def _begin(self) -> None:
        incoming = self.headers.get("X-Request-ID", "")
        self.request_id = (
            incoming if incoming.isalnum() and 8 <= len(incoming) <= 64 else uuid.uuid4().hex
        )

    def _unavailable(self) -> None:
        self._answer(503, {"error": "temporarily unavailable", "request_id": self.request_id})

    def do_GET(self) -> None:
        self._begin()
        if self.path == "/healthz":
            self._answer(200, {"status": "ok"})
        elif self.path == "/readyz":
            try:
                self.db.query("SELECT 1")
            except ConnectionError:
                self._answer(503, {"status": "unready", "failing": ["db"]})
            else:
                self._answer(200, {"status": "ready"})
        elif self.path == "/entries":
            try:
                rows = self.db.query(SCHEMA + "; SELECT text FROM entries ORDER BY id")  # noqa: S608 - constants only
            except ConnectionError:
                self._unavailable()
            else:
                self._answer(200, {"entries": rows})
        else:
            self._answer(404, {"error": "not found", "request_id": self.request_id})

    def do_POST(self) -> None:
        self._begin()
        if self.path != "/entries":
            self._answer(404, {"error": "not found", "request_id": self.request_id})
            return
        length = int(self.headers.get("Content-Length") or 0)
        text = self.rfile.read(length).decode(errors="replace")[:500]
        try:
            self.db.query(SCHEMA + "; INSERT INTO entries (text) VALUES (@a0)", text)  # noqa: S608 - bound as @a0
        except ConnectionError:
            self._unavailable()
        else:
            self._answer(201, {"stored": True})


def main() -> int:
    logging.basicConfig(
        stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    password = os.environ.get("DB_PASSWORD", "")
    if not password:
        log.error("DB_PASSWORD is not set; refusing to start")
        return 2
    Handler.db = Database(os.environ["DB_HOST"], os.environ["DB_PORT"], password, timeout_s=2)
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
