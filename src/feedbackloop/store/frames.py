"""Fast column-wise reads of the deal, message and template tables into pandas frames.

``pd.read_sql`` over SQLAlchemy rows runs a Python type processor per value (the ``UtcDateTime``
decorator, SQLite's datetime parser) and holds every row as a Python object before building the frame:
at a million messages that was ~13 s and ~2 GiB. This reader goes through the raw DBAPI cursor in chunks,
turns each chunk into typed numpy arrays straight away (times parsed vectorised, booleans and numbers as
numpy, repeated strings shared) and builds the frame once. The result is the frame ``read_sql`` gave
(same columns, the same dtypes pandas would infer, UTC-aware times); ``tests/test_store_frames.py``
checks that against the SQLAlchemy reader on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import sqlalchemy as sa

__all__ = ["Kind", "column_kind", "number_column", "read_frame"]

Kind = Literal["text", "float", "int", "bool", "time"]

#: rows fetched and converted at a time: bounds the Python objects alive at once
CHUNK_ROWS = 100_000


def column_kind(column: sa.Column[Any]) -> Kind:
    """How a table column is read: by its SQLAlchemy type."""
    type_ = column.type
    if isinstance(type_, sa.Boolean):
        return "bool"
    if isinstance(type_, sa.Integer):
        return "int"
    if isinstance(type_, sa.Float):
        return "float"
    if isinstance(type_, sa.DateTime) or isinstance(getattr(type_, "impl", None), sa.DateTime):
        return "time"
    return "text"


def _floats(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Numbers (or 0/1 booleans) with None as NaN."""
    return values.astype(float)


def _shared(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Strings as an object array in which equal strings are one object (repeated ids, categories)."""
    codes, uniques = pd.factorize(values)
    out = np.full(len(values), None, dtype=object)
    present = codes >= 0
    out[present] = np.asarray(uniques, dtype=object)[codes[present]]
    return out


def _times(values: np.ndarray[Any, Any]) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(values, utc=True, format="ISO8601"))


def _finish(kind: Kind, chunks: list[Any]) -> Any:
    """One column from its converted chunks, with the dtype ``read_sql`` (pandas inference) gives."""
    if kind == "text":
        return pd.Series(np.concatenate(chunks), copy=False).infer_objects()
    if kind == "time":
        present = [c for c in chunks if c.notna().any()]
        if not present:  # all NULL: what to_datetime makes of a column of None
            return pd.to_datetime(pd.Series([None] * sum(map(len, chunks)), dtype=object), utc=True)
        naive = [c.tz_convert(None).as_unit("us").to_numpy() for c in chunks]
        return pd.Series(np.concatenate(naive)).dt.tz_localize("UTC")
    return number_column(kind, np.concatenate(chunks))


def number_column(kind: Kind, values: np.ndarray[Any, Any]) -> pd.Series:
    """A number or bool column from floats (NaN where NULL) with the dtype ``read_sql`` gives: int or
    bool without NULLs, float for numbers with NULLs, object (None) for bools with NULLs or all NULL.
    Shared by this reader and the columnar one (:mod:`feedbackloop.store.columnar`)."""
    missing = np.isnan(values)
    if missing.all():  # all NULL: pandas keeps None in an object column
        return pd.Series(np.full(len(values), None, dtype=object))
    if kind == "float":
        return pd.Series(values)
    if not missing.any():
        return pd.Series(values.astype(bool if kind == "bool" else np.int64))
    if kind == "int":
        return pd.Series(values)
    out = np.full(len(values), None, dtype=object)
    out[~missing] = values[~missing].astype(bool)
    return pd.Series(out)


def _converter(kind: Kind) -> Callable[[np.ndarray[Any, Any]], Any]:
    if kind == "time":
        return _times
    if kind == "text":
        return _shared
    return _floats


def read_frame(
    conn: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    where: tuple[str, Any],
) -> pd.DataFrame | None:
    """``SELECT columns FROM table WHERE where[0] = where[1]`` as a frame; None when no row matches.

    The query is the one the SQLAlchemy reader sends (same plan, so the same row order). Empty results
    are left to the caller (the SQLAlchemy reader), whose empty-frame dtypes are kept.
    """
    quote = conn.dialect.identifier_preparer.quote
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"SELECT {', '.join(quote(c) for c in columns)} FROM {quote(table.name)} "
        f"WHERE {quote(where[0])} = {mark}"
    )
    kinds = [column_kind(table.c[c]) for c in columns]
    converters = [_converter(k) for k in kinds]
    chunks: list[list[Any]] = [[] for _ in columns]
    raw = conn.connection.driver_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.execute(sql, (where[1],))
        while rows := cursor.fetchmany(CHUNK_ROWS):
            table_chunk = np.array(rows, dtype=object).reshape(len(rows), len(columns))
            del rows
            for i, convert in enumerate(converters):
                chunks[i].append(convert(table_chunk[:, i]))
            del table_chunk
    finally:
        cursor.close()
    if not chunks or not chunks[0]:
        return None
    return pd.DataFrame(
        {c: _finish(k, parts) for c, k, parts in zip(columns, kinds, chunks, strict=True)}, copy=False
    )
