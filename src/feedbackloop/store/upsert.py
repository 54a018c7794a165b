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
    """Insert ``rows`` into ``table``, updating every non-key column on a key conflict."""
    dialect = conn.dialect.name
    insert: Any = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(table)
    columns = [c.name for c in table.columns if c.name not in keys]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys), set_={name: stmt.excluded[name] for name in columns}
    )
    count = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= chunk:
            conn.execute(stmt, batch)
            count += len(batch)
            batch = []
    if batch:
        conn.execute(stmt, batch)
        count += len(batch)
    return count
