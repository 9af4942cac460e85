#!/usr/bin/env python3
"""Restore the database from a backup into an empty database, and bring the services back.

    restore.py [BACKUP] [--config FILE] [--events FILE] [--jobs N]

BACKUP defaults to the newest `<db>-YYYYmmdd-HHMMSS.dump` in the backup folder. In order:

1. the backup must read as an archive (`pg_restore --list`) — before anything is touched;
2. the database service is started (`service_control start --wait`; a server whose disk was
   lost comes back empty) and must accept connections;
3. the database must be empty: a restore never overwrites data (drop and recreate it first);
4. the services that use the database (`[restore] services`) are stopped, so nothing writes
   during the restore;
5. `pg_restore --no-owner --no-privileges --exit-on-error --jobs N` as the database's owner;
6. the migrations check: every `[[restore.migrate]]` command runs (they apply what a backup
   from an older release lacks, and fail when the schema is wrong);
7. the services start again — only now, after their database is restored (R-DEP-4) — and
   the script returns once each `[restore.ready]` URL answers 200.

Exit status: 0 restored and ready, 1 configuration error, 2 refused (bad backup, database
not empty; nothing touched), 3 failed (the message says where; services stay stopped).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from opskit.backups import backups
from opskit.config import Config, ConfigError
from opskit.events import Events
from opskit.health import status_of
from opskit.postgres import Database, tail
from opskit.service import ControlError, ServiceControl

RESTORED, CONFIG, REFUSED, FAILED = 0, 1, 2, 3
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
POLL_S = 0.05  # how often to look for the database and the services while restoring
USER_RELATIONS = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
"""


class RestoreFailed(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def wait_until(check: Any, timeout_s: float, what: str) -> float:
    """Poll `check` until it is true; raise RestoreFailed at the deadline."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise RestoreFailed(FAILED, f"{what} not within {timeout_s:g} s")
        time.sleep(POLL_S)  # the restore's own poll interval, bounded by the deadline above
    return time.monotonic() - started


class Restore:
    def __init__(self, config: Config, events: Events, jobs: int | None) -> None:
        self.config = config
        self.events = events
        self.database = Database.from_config(config)
        self.database_service = config.text("database.service", "postgres")
        self.control = (
            ServiceControl(tuple(config.command("service_control")))
            if config.has("service_control")
            else None
        )
        self.services = config.texts("restore.services", [])
        self.ready: Mapping[str, Any] = (
            config.table("restore.ready") if config.has("restore.ready") else {}
        )
        self.migrations = config.tables("restore.migrate")
        self.timeout_s = config.number("restore.ready_timeout_s", 300.0)
        self.jobs = jobs or self._configured_jobs()

    def _configured_jobs(self) -> int:
        if self.config.has("restore.jobs") and self.config.data["restore"]["jobs"] != "auto":
            return int(self.config.number("restore.jobs"))
        return max(1, min(4, os.cpu_count() or 1))

    def choose(self, named: Path | None) -> Path:
        if named is not None:
            return named
        found = backups(self.config.path("backup.dir"), self.database.name)
        if not found:
            raise RestoreFailed(REFUSED, f"no backup of {self.database.name} to restore")
        return found[-1].path

    def check_backup(self, backup: Path) -> None:
        listed = self.database.run("pg_restore", "--list", str(backup), timeout_s=600)
        if listed.returncode != 0:
            raise RestoreFailed(
                REFUSED, f"{backup} is not a readable backup: {tail(listed.stderr)}"
            )
        self.events.emit("backup_ok", str(backup), file=str(backup))

    def database_up(self) -> None:
        if self.control is not None:
            try:
                self.control.start(self.database_service, wait=True)
            except ControlError as error:
                raise RestoreFailed(FAILED, f"starting the database: {error}") from None
        took = wait_until(
            self.database.accepts_connections, self.timeout_s, "the database accepting connections"
        )
        self.events.emit("database_up", f"{took:.2f} s")
        if (relations := int(self.database.query(USER_RELATIONS) or 0)) > 0:
            raise RestoreFailed(
                REFUSED,
                f"database {self.database.name} is not empty ({relations} relations): a restore "
                "never overwrites data; drop and recreate it first",
            )

    def services_down(self) -> None:
        if self.control is not None and self.services:
            self.control.stop(*self.services)
        self.events.emit("services_stopped", ", ".join(self.services), services=self.services)

    def pg_restore(self, backup: Path) -> None:
        started = time.monotonic()
        self.events.emit("restoring", f"{backup.name} with {self.jobs} job(s)", jobs=self.jobs)
        done = self.database.run(
            "pg_restore",
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--no-password",
            f"--jobs={self.jobs}",
            f"--dbname={self.database.url}",
            str(backup),
        )
        if done.returncode != 0:
            raise RestoreFailed(FAILED, f"pg_restore exited {done.returncode}: {tail(done.stderr)}")
        self.events.emit(
            "restored_data",
            f"{time.monotonic() - started:.2f} s",
            seconds=round(time.monotonic() - started, 3),
        )

    def pending(self, step: Mapping[str, Any]) -> bool:
        """Whether a schema's ledger lacks a migration its folder holds. Without `schema` and
        `folder` in the step, always (its command then decides)."""
        schema, folder = step.get("schema"), step.get("folder")
        if not isinstance(schema, str) or not isinstance(folder, str):
            return True
        if not IDENTIFIER.fullmatch(schema):
            raise ConfigError(f"restore.migrate: schema {schema!r} is not a plain SQL name")
        expected = {p.stem for p in (Path(str(step.get("cwd", "."))) / folder).glob("[0-9]*.sql")}
        if not expected:
            raise ConfigError(f"restore.migrate: {folder} holds no migrations (check cwd, folder)")
        try:
            applied = set(
                self.database.query(f'SELECT version FROM "{schema}".schema_migrations').split()  # noqa: S608 - a checked identifier
            )
        except RuntimeError:  # no ledger at all: the schema is missing
            return True
        return not expected <= applied

    def migrate(self) -> None:
        """The migrations check: every ledger up to date, or its migrations run now (side by
        side; each must succeed)."""
        env = {**os.environ, "DATABASE_URL": self.config.text("database.url")}
        running = []
        for index, step in enumerate(self.migrations):
            argv = step.get("argv")
            if not isinstance(argv, list) or not all(isinstance(a, str) for a in argv):
                raise ConfigError(f"restore.migrate[{index}].argv must be a list of strings")
            if not self.pending(step):
                continue
            cwd = str(step.get("cwd", "."))
            process = subprocess.Popen(
                argv, cwd=cwd, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            running.append((argv, process))
        for argv, process in running:
            output, _ = process.communicate(timeout=self.timeout_s)
            if process.returncode != 0:
                raise RestoreFailed(
                    FAILED, f"migrations check `{' '.join(argv[-2:])}` failed: {tail(output)}"
                )
        self.events.emit(
            "migrations_ok",
            f"{len(self.migrations)} schema(s), {len(running)} migrated",
            migrated=len(running),
        )

    def services_up(self) -> None:
        if self.control is not None and self.services:
            self.control.start(*self.services)
        self.events.emit("services_started", ", ".join(self.services))
        for service, url in self.ready.items():
            took = wait_until(
                lambda u=str(url): status_of(u) == "200", self.timeout_s, f"{service} ready ({url})"
            )
            self.events.emit("ready", f"{service} after {took:.2f} s", service=service)

    def run(self, named: Path | None) -> int:
        started = time.monotonic()
        backup = self.choose(named)
        self.events.emit("start", str(backup), file=str(backup))
        self.check_backup(backup)
        self.database_up()
        self.services_down()
        self.pg_restore(backup)
        self.migrate()
        self.services_up()
        total = round(time.monotonic() - started, 3)
        self.events.emit("done", f"restored {backup.name} in {total:.2f} s", seconds=total)
        return RESTORED


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backup", nargs="?", type=Path, help="default: the newest backup")
    parser.add_argument("--config", help="ops config (default: $OPS_CONFIG)")
    parser.add_argument("--events", help="append JSON-line events here (default: $OPS_EVENTS)")
    parser.add_argument("--jobs", type=int, help="parallel pg_restore jobs (default: config)")
    args = parser.parse_args(argv)
    events = Events("restore", args.events)
    try:
        return Restore(Config.load(args.config), events, args.jobs).run(args.backup)
    except ConfigError as error:
        events.fail("config", str(error))
        return CONFIG
    except (RestoreFailed, ControlError, RuntimeError, subprocess.TimeoutExpired) as error:
        events.fail("failed" if getattr(error, "code", FAILED) == FAILED else "refused", str(error))
        return getattr(error, "code", FAILED)


if __name__ == "__main__":
    sys.exit(main())
