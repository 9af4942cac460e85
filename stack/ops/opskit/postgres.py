"""PostgreSQL's own tools (pg_dump, pg_restore, psql, pg_isready) with the password kept
out of the process list: it goes to them in PGPASSWORD, never on a command line."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from opskit.config import Config


@dataclass(frozen=True, slots=True)
class Database:
    url: str  # without the password
    password: str | None
    name: str
    host: str
    port: int
    bin_dir: Path

    @classmethod
    def from_config(cls, config: Config) -> Database:
        parts = urlsplit(config.text("database.url"))
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0] if len(netloc) == 2 else ""
        host = netloc[-1]
        password = parts.password
        safe = urlunsplit(parts._replace(netloc=f"{user}@{host}" if user else host))
        bin_dir = config.path("database.bin_dir") if config.has("database.bin_dir") else Path()
        return cls(
            url=safe,
            password=unquote(password) if password else None,
            name=unquote(parts.path.lstrip("/")),
            host=parts.hostname or "localhost",
            port=parts.port or 5432,
            bin_dir=bin_dir,
        )

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name) if str(self.bin_dir) != "." else name

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def run(
        self, name: str, *args: str, timeout_s: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.tool(name), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def accepts_connections(self) -> bool:
        done = self.run(
            "pg_isready", "--host", self.host, "--port", str(self.port), "--timeout=3", timeout_s=10
        )
        return done.returncode == 0

    def query(self, sql: str) -> str:
        done = self.run(
            "psql",
            "--no-psqlrc",
            "--no-password",
            "--tuples-only",
            "--no-align",
            "--dbname",
            self.url,
            "--command",
            sql,
            timeout_s=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql: {done.stderr.strip()}")
        return done.stdout.strip()


def tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
