"""Fingerprints of a database, table by table: row count and a checksum of the rows.

The checksum is the md5 of every row's md5 in sorted order, so it does not depend on the
physical order a restore writes rows in. Tables come from every schema but the system ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

TABLES = """
SELECT schemaname, tablename FROM pg_tables
WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2
"""


@dataclass(frozen=True, slots=True)
class TableState:
    rows: int
    checksum: str


def _identifier(qualified: str) -> sql.Composed:
    schema, _, table = qualified.partition(".")
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def fingerprint(url: str) -> dict[str, TableState]:
    """Every user table's row count and checksum."""
    states: dict[str, TableState] = {}
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
        tables = [f"{s}.{t}" for s, t in connection.execute(TABLES).fetchall()]
        for name in tables:
            query = sql.SQL(
                "SELECT count(*), coalesce(md5(string_agg(md5(t::text), '' "
                "ORDER BY md5(t::text))), '') FROM {} t"
            ).format(_identifier(name))
            row = connection.execute(query).fetchone()
            assert row is not None
            states[name] = TableState(int(row[0]), str(row[1]))
    return states


def row_hashes(url: str, table: str, key: str) -> dict[int, str]:
    """key → md5 of the whole row, for a row-by-row comparison of one table."""
    query = sql.SQL("SELECT {key}, md5(t::text) FROM {table} t").format(
        key=sql.Identifier(key), table=_identifier(table)
    )
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
        return {int(k): str(h) for k, h in connection.execute(query).fetchall()}
