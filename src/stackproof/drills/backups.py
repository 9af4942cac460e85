"""What a backup folder holds, and the means to test backups: aged copies, a held lock."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from stackproof.readiness import Check

STAMP = "%Y%m%d-%H%M%S"


def backup_pattern(database: str) -> re.Pattern[str]:
    """`<db>-YYYYmmdd-HHMMSS.dump`, the name R-BAK-1 asks for."""
    return re.compile(rf"^{re.escape(database)}-(\d{{8}}-\d{{6}})\.dump$")


def named_moment(name: str, database: str) -> dt.datetime | None:
    match = backup_pattern(database).match(name)
    return dt.datetime.strptime(match.group(1), STAMP) if match else None


def entries(folder: Path) -> dict[str, int]:
    """Name → size of every file in the folder (none when it does not exist)."""
    if not folder.is_dir():
        return {}
    return {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}


def backup_files(folder: Path, database: str) -> list[Path]:
    pattern = backup_pattern(database)
    return sorted(p for p in folder.iterdir() if pattern.match(p.name)) if folder.is_dir() else []


def plant_aged_copy(source: Path, database: str, age: dt.timedelta, now: dt.datetime) -> Path:
    """A copy of a real backup named (and dated, mtime) as if taken `age` ago (UTC)."""
    moment = now - age
    target = source.with_name(f"{database}-{moment:{STAMP}}.dump")
    shutil.copyfile(source, target)
    target.chmod(0o640)
    os.utime(target, (moment.timestamp(), moment.timestamp()))
    return target


@dataclass(frozen=True, slots=True)
class LockWaiter:
    """Another session is waiting for a lock (a dump blocked by the lock a test holds)."""

    url: str

    @property
    def description(self) -> str:
        return "a session of the database waits for a lock"

    def check(self) -> Check:
        with psycopg.connect(self.url, autocommit=True, connect_timeout=2) as connection:
            row = connection.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            ).fetchone()
        waiting = int(row[0]) if row else 0
        return Check(waiting > 0, f"{waiting} session(s) waiting for a lock")


@contextmanager
def table_locked(url: str) -> Iterator[str]:
    """Hold an ACCESS EXCLUSIVE lock on one user table until the block ends: a dump of the
    database then starts (its file is open) and waits — a backup frozen mid-way."""
    with psycopg.connect(url, connect_timeout=5) as connection:
        row = connection.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2 LIMIT 1"
        ).fetchone()
        if row is None:
            raise LookupError("the database has no table to lock")
        schema, table = row
        with connection.transaction():
            connection.execute(
                sql.SQL("LOCK TABLE {}.{} IN ACCESS EXCLUSIVE MODE").format(
                    sql.Identifier(schema), sql.Identifier(table)
                )
            )
            yield f"{schema}.{table}"
