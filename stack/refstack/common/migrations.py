"""SQL migrations, one schema per service: `NNNN_name.sql` files applied in order, once.

Run as `python -m refstack.common.migrations [--wait=SECONDS] <schema> <folder> [...]` before
the services start; readiness compares what is applied with the files present. `--wait`: the
database may not accept connections yet (a container started beside it), so connecting is
retried up to that long.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import psycopg
from psycopg import sql

from refstack.common.settings import SettingsError, required


def migration_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def expected_versions(folder: Path) -> frozenset[str]:
    return frozenset(path.stem for path in migration_files(folder))


def ledger(schema: str) -> sql.Composed:
    return sql.SQL("{}.schema_migrations").format(sql.Identifier(schema))


def apply(database_url: str, schema: str, folder: Path) -> list[str]:
    """Apply the files not yet recorded; each in its own transaction. Returns what ran."""
    applied_now: list[str] = []
    with psycopg.connect(database_url) as connection:
        with connection.transaction():
            connection.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
            )
            connection.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {} (version text PRIMARY KEY, "
                    "applied_at timestamptz NOT NULL DEFAULT now())"
                ).format(ledger(schema))
            )
        done = {
            row[0]
            for row in connection.execute(sql.SQL("SELECT version FROM {}").format(ledger(schema)))
        }
        for path in migration_files(folder):
            if path.stem in done:
                continue
            with connection.transaction():
                connection.execute(path.read_text("utf-8").encode())
                connection.execute(
                    sql.SQL("INSERT INTO {} (version) VALUES (%s)").format(ledger(schema)),
                    [path.stem],
                )
            applied_now.append(path.stem)
    return applied_now


RETRY_PAUSE_S = 0.1  # between attempts while the database starts: a refusal is immediate


def wait_for_database(database_url: str, seconds: float) -> None:
    """Return once the database accepts a connection; its last error after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            psycopg.connect(database_url, connect_timeout=max(1, int(seconds))).close()
        except psycopg.OperationalError:
            if time.monotonic() + RETRY_PAUSE_S >= deadline:
                raise
            time.sleep(RETRY_PAUSE_S)  # bounded by the deadline above
        else:
            return


def main(argv: list[str]) -> int:
    wait_s = 0.0
    if argv and argv[0].startswith("--wait="):
        try:
            wait_s = float(argv.pop(0).removeprefix("--wait="))
        except ValueError:
            argv = []
    if not argv or len(argv) % 2:
        print(
            "usage: python -m refstack.common.migrations [--wait=SECONDS] <schema> <folder> "
            "[<schema> <folder> ...]",
            file=sys.stderr,
        )
        return 2
    if wait_s > 0:
        try:
            wait_for_database(required("DATABASE_URL"), wait_s)
        except SettingsError as error:
            print(f"migrations: {error}", file=sys.stderr)
            return 1
        except psycopg.Error as error:
            print(
                f"migrations: the database did not accept connections within {wait_s:g} s "
                f"({type(error).__name__})",
                file=sys.stderr,
            )
            return 1
    # Several schemas in one run: one interpreter start, not one per service.
    for schema, folder in zip(argv[::2], map(Path, argv[1::2]), strict=True):
        try:
            applied_now = apply(required("DATABASE_URL"), schema, folder)
        except SettingsError as error:
            print(f"migrations: {error}", file=sys.stderr)
            return 1
        except psycopg.Error as error:
            # The class only: psycopg messages can quote the connection target.
            print(f"migrations: {schema}: database error ({type(error).__name__})", file=sys.stderr)
            return 1
        print(f"migrations: {schema}: applied {', '.join(applied_now) or 'nothing new'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
