"""Dialect-aware bulk upsert (INSERT … ON CONFLICT DO UPDATE) for SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

__all__ = ["upsert_rows"]

# SQLite allows 32,766 bound parameters per statement; PostgreSQL 65,535. executemany batches
# are bounded by rows, not parameters, so a conservative chunk keeps memory flat on large imports.
_CHUNK = 5_000


def upsert_rows(
    conn: Connection,
    table: sa.Table,
    rows: Iterable[dict[str, Any]],
    *,
    keys: Sequence[str],
    chunk: int = _CHUNK,
) -> int:
    """Insert ``rows`` into ``table``; on a key conflict update the columns the rows carry.

    Columns a row does not carry keep their stored value (a synced template never resets the status a
    human set), and take the table default on insert. All rows must carry the same columns.
    """
    dialect = conn.dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    count = 0
    stmt: Any = None
    batch: list[dict[str, Any]] = []
    for row in rows:
        if stmt is None:
            stmt = insert(table)
            update = [name for name in row if name not in keys]
            if update:
                stmt = stmt.on_conflict_do_update(
                    index_elements=list(keys), set_={name: stmt.excluded[name] for name in update}
                )
            else:
                stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        batch.append(row)
        if len(batch) >= chunk:
            conn.execute(stmt, batch)
            count += len(batch)
            batch = []
    if batch:
        conn.execute(stmt, batch)
        count += len(batch)
    return count
