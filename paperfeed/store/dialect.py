"""The few statements SQLite and PostgreSQL spell differently, in one place.

    insert_ignore   INSERT OR IGNORE            | INSERT … ON CONFLICT DO NOTHING
    insert_replace  INSERT OR REPLACE           | INSERT … ON CONFLICT (key) DO UPDATE SET …
    write lock      BEGIN IMMEDIATE (engine.py) | row locks taken by the statements themselves

Each takes the connection, so it follows the dialect the store was opened with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Insert, Table, insert

# Row ids are INTEGER columns: 32-bit on PostgreSQL, 64-bit on SQLite.  An id outside 1..2**31-1 names no row
# on either; binding one raises (SQLite OverflowError past 2**63, PostgreSQL NumericValueOutOfRange past
# 2**31), so lookups by an id from a request answer "no such row" for it before any SQL runs.
MAX_ROW_ID = 2**31 - 1


def is_row_id(n: int) -> bool:
    return 1 <= n <= MAX_ROW_ID


def insert_ignore(conn: Connection, table: Table) -> Insert:
    """An INSERT that skips rows clashing with a unique constraint.  To learn whether a row went in, add
    `.returning(…)`: a skipped row returns nothing (psycopg reports rowcount -1 with RETURNING)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    return insert(table).prefix_with("OR IGNORE", dialect="sqlite")


def insert_replace(conn: Connection, table: Table, key: Sequence[str]) -> Any:
    """An INSERT that overwrites the row with the same `key` columns (executed with a list of rows)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table)
        rest = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in key}
        return stmt.on_conflict_do_update(index_elements=list(key), set_=rest)
    return insert(table).prefix_with("OR REPLACE", dialect="sqlite")
