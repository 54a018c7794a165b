"""Bulk upserts for large imports, on the caller's transaction, for SQLite and PostgreSQL.

:meth:`Store.upsert` builds a dict per row and goes through SQLAlchemy's executemany; for a million
messages that costs more than the import itself. Here rows are tuples made column-wise from numpy
arrays and handed to the driver directly: ``executemany`` of ``INSERT … ON CONFLICT DO UPDATE`` on
SQLite, ``COPY`` into a temporary table and one ``INSERT … SELECT … ON CONFLICT DO UPDATE`` on
PostgreSQL. Both update a row only when a value differs, so a re-import writes nothing and the
returned count is the number of rows really inserted or changed.

Values must already be what the driver stores: ``None`` for NULL, ints for booleans, and times as
UTC text in the format SQLAlchemy uses for the backend (see :func:`utc_text`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = ["bulk_upsert", "nullable", "utc_text"]

_CHUNK = 20_000
_SQLITE_CACHE_KIB = 256 * 1024
_REBUILD_INDEXES_FROM = 100_000
_temp_names = itertools.count(1)


def utc_text(stamps: pd.Series, dialect: str) -> npt.NDArray[np.object_]:
    """UTC times as stored text: SQLAlchemy's SQLite format, or ISO text with a ``Z`` for PostgreSQL."""
    naive = stamps.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy(dtype="datetime64[us]")
    missing = np.isnat(naive)
    if dialect == "postgresql":
        text = np.datetime_as_string(naive, unit="us", timezone="UTC")
    else:
        text = np.datetime_as_string(naive, unit="us")  # 2026-03-01T12:00:00.000000
        if text.size:
            text.view(np.uint32).reshape(text.size, -1)[:, 10] = ord(" ")  # SQLAlchemy writes a space
    result: npt.NDArray[np.object_] = text.astype(object)
    result[missing] = None
    return result


def nullable(values: npt.NDArray[Any], missing: npt.NDArray[np.bool_]) -> npt.NDArray[np.object_]:
    """Python scalars, with ``None`` where ``missing``."""
    result = values.astype(object)
    result[missing] = None
    return result


def bulk_upsert(
    conn: Connection,
    table: sa.Table,
    columns: Mapping[str, npt.NDArray[np.object_]],
    *,
    keys: Sequence[str],
    update: Sequence[str],
    progress: Callable[[int], None] | None = None,
) -> int:
    """Insert the rows given column-wise, updating ``update`` columns on a key conflict.

    Returns how many rows were inserted or changed (rows equal to the stored ones are left alone).
    """
    names = list(columns)
    size = len(next(iter(columns.values()))) if columns else 0
    if not size:
        return 0
    quote = conn.dialect.identifier_preparer.quote
    target = quote(table.name)
    cols = ", ".join(quote(n) for n in names)
    conflict = f"ON CONFLICT ({', '.join(quote(k) for k in keys)})"
    if update:
        assign = ", ".join(f"{quote(c)} = excluded.{quote(c)}" for c in update)
        if conn.dialect.name == "postgresql":
            old = ", ".join(f"{target}.{quote(c)}" for c in update)
            new = ", ".join(f"excluded.{quote(c)}" for c in update)
            changed = f"ROW({old}) IS DISTINCT FROM ROW({new})"
        else:
            changed = " OR ".join(f"{target}.{quote(c)} IS NOT excluded.{quote(c)}" for c in update)
        conflict += f" DO UPDATE SET {assign} WHERE {changed}"
    else:
        conflict += " DO NOTHING"
    chunks = _row_chunks([columns[n] for n in names], size)
    driver = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        temp = quote(f"fl_import_{table.name}_{next(_temp_names)}")
        with driver.cursor() as cur:  # type: ignore[union-attr]
            empty = f"SELECT {cols} FROM {target} WITH NO DATA"
            cur.execute(f"CREATE TEMP TABLE {temp} ON COMMIT DROP AS {empty}")
            with cur.copy(f"COPY {temp} ({cols}) FROM STDIN") as copy:
                for rows in chunks:
                    for row in rows:
                        copy.write_row(row)
                    if progress:
                        progress(len(rows))
            cur.execute(f"INSERT INTO {target} ({cols}) SELECT {cols} FROM {temp} {conflict}")
            count = int(cur.rowcount)
            cur.execute(f"DROP TABLE {temp}")
        return count
    marks = ", ".join("?" for _ in names)
    sql = f"INSERT INTO {target} ({cols}) VALUES ({marks}) {conflict}"
    cursor = driver.cursor()  # type: ignore[union-attr]
    rebuild = _indexes_to_rebuild(conn, table, size, in_transaction=bool(driver.in_transaction))  # type: ignore[union-attr]
    for index in rebuild:
        conn.exec_driver_sql(f"DROP INDEX {quote(str(index.name))}")
    count = 0
    # A million random-order keys thrash SQLite's default 2 MB page cache; give this import more.
    cache = cursor.execute("PRAGMA cache_size").fetchone()[0]
    cursor.execute(f"PRAGMA cache_size = {-_SQLITE_CACHE_KIB}")
    try:
        for rows in chunks:
            cursor.executemany(sql, rows)
            count += max(int(cursor.rowcount), 0)
            if progress:
                progress(len(rows))
        for index in rebuild:
            index.create(conn)
    finally:
        cursor.execute(f"PRAGMA cache_size = {int(cache)}")
        cursor.close()
    return count


def _indexes_to_rebuild(
    conn: Connection, table: sa.Table, size: int, *, in_transaction: bool
) -> list[sa.Index]:
    """SQLite: secondary indexes to drop before a large load into a mostly empty table and rebuild after.

    Building an index once (by sorting) costs less than updating it row by row. Only inside the
    transaction (SQLite's DDL is transactional, so a failed import leaves the index as it was), and
    not for a re-import, whose rows mostly exist already and leave the index untouched.
    """
    if size < _REBUILD_INDEXES_FROM or not in_transaction or not table.indexes:
        return []
    stored = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    return list(table.indexes) if stored < size else []


def _row_chunks(arrays: list[npt.NDArray[np.object_]], size: int) -> Any:
    for start in range(0, size, _CHUNK):
        stop = min(start + _CHUNK, size)
        yield list(zip(*(a[start:stop].tolist() for a in arrays), strict=True))
