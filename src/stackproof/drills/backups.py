"""What a backup folder holds, and the means to test backups: aged copies, a held lock.

The folder is on the stack's side (a host, a container): it is read and changed only through
the stack's `FileAccess`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import PurePosixPath

import psycopg
from psycopg import sql

from stackproof.backends.base import FileAccess
from stackproof.readiness import Check

STAMP = "%Y%m%d-%H%M%S"


def backup_pattern(database: str) -> re.Pattern[str]:
    """`<db>-YYYYmmdd-HHMMSS.dump`, the name R-BAK-1 asks for."""
    return re.compile(rf"^{re.escape(database)}-(\d{{8}}-\d{{6}})\.dump$")


def named_moment(name: str, database: str) -> dt.datetime | None:
    match = backup_pattern(database).match(name)
    return dt.datetime.strptime(match.group(1), STAMP) if match else None


def entries(files: FileAccess, folder: PurePosixPath) -> dict[str, int]:
    """Name → size of every file in the folder (none when it does not exist)."""
    found = {}
    for name in files.list(folder):
        facts = files.stat(folder / name)
        if facts is not None and facts.kind == "file":
            found[name] = facts.size
    return found


def backup_files(files: FileAccess, folder: PurePosixPath, database: str) -> list[PurePosixPath]:
    pattern = backup_pattern(database)
    return [folder / name for name in files.list(folder) if pattern.match(name)]


def plant_aged_copy(
    files: FileAccess, source: PurePosixPath, database: str, age: dt.timedelta, now: dt.datetime
) -> PurePosixPath:
    """A copy of a real backup named (and dated, mtime) as if taken `age` ago (UTC)."""
    moment = now - age
    target = source.with_name(f"{database}-{moment:{STAMP}}.dump")
    files.copy(source, target)
    files.chmod(target, 0o640)
    files.set_mtime(target, moment.timestamp())
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
