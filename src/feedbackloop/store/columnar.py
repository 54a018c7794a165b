"""Columnar reads of a SQLite store file through ADBC: Arrow arrays, no Python object per value.

Reading a million messages through Python's ``sqlite3`` builds ten million Python objects (2.3 s before
any conversion, ~6 s with it); the Arrow Database Connectivity driver for SQLite (Apache Arrow's
``adbc-driver-sqlite``) steps the same query in C into Arrow arrays. It runs in a child process
(:mod:`feedbackloop.sqlite_arrow`, which says why) that reads the deal and message tables side by side
and streams them back in Arrow's IPC format; here the arrays become the frames the reference reader
gives (``pd.read_sql``; ``tests/test_store_frames.py``), except for row order, which no caller relies on.

Only for file databases (an in-memory SQLite database is private to its connection); the caller falls
back to the DBAPI reader (:mod:`feedbackloop.store.frames`) on anything this reader cannot take.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa

from feedbackloop.sqlite_arrow import Reader, sqlite_file, start
from feedbackloop.store.frames import Kind, column_kind, number_column

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MIN_ROWS", "ColumnarReadError", "FrameRequest", "read_frames", "sqlite_file"]

#: Tables with fewer of the tenant's rows are read in-process (starting the reader process, ~0.5 s with
#: pyarrow's import, costs more than reading them through Python's sqlite3).
MIN_ROWS = 50_000


class FrameRequest(NamedTuple):
    """One table's columns to read for a tenant."""

    table: sa.Table
    columns: Sequence[str]


def read_frames(
    path: str | Path,
    requests: Sequence[FrameRequest],
    tenant_id: int,
    *,
    shared_key: str | None = None,
    reader: Reader | None = None,
) -> list[pd.DataFrame | None]:
    """The requested tables' rows of a tenant as frames; None for a table without rows. With
    ``shared_key``, that text column comes back as one pandas Categorical shared by all the frames
    (see :meth:`feedbackloop.store.repo.Store.frames`). ``reader``: a child already started for these
    tables (:func:`feedbackloop.analysis_input.start_reading`); used when it matches, else discarded.
    Raises :class:`ColumnarReadError` when the child cannot read (driver missing, a value it cannot
    type) and ImportError without pyarrow."""
    tables = _fetch(path, requests, tenant_id, shared_key, reader)
    shared = _SharedKey()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="frames") as pool:
        futures = [pool.submit(_frame, r, t, shared_key) for r, t in zip(requests, tables, strict=True)]
        read = [f.result() for f in futures]
    for frame, data in zip(read, tables, strict=True):
        if frame is not None and shared_key is not None and shared_key in frame.columns:
            frame[shared_key] = shared.encode(data.column(shared_key))
    return read


class ColumnarReadError(RuntimeError):
    """The child process could not read the tables (the caller then reads them itself)."""


def _fetch(
    path: str | Path,
    requests: Sequence[FrameRequest],
    tenant_id: int,
    shared_key: str | None,
    reader: Reader | None,
) -> list[pa.Table]:
    """The tenants' rows of the requested tables as Arrow tables, from :mod:`feedbackloop.sqlite_arrow`."""
    tables = [(table.name, list(columns)) for table, columns in requests]
    target = str(Path(path).resolve())
    if reader is not None and (reader.path, reader.tables, reader.key) != (target, tables, shared_key):
        reader.discard()
        reader = None
    try:
        received = reader.receive(tenant_id) if reader is not None else None
        if received is None:  # not started yet, or started for another tenant
            received = start(target, f"id:{tenant_id}", tables, shared_key).receive(tenant_id)
    except RuntimeError as exc:
        raise ColumnarReadError(str(exc)) from None
    if received is None:
        raise ColumnarReadError(f"tenant {tenant_id} not found by the reader")
    return received


class _SharedKey:
    """Turns the child's encoded key columns (indices into one sorted dictionary) into Categoricals of
    one dtype; the dictionary becomes Python strings once."""

    def __init__(self) -> None:
        self._dictionary: pa.Array | None = None
        self._dtype: pd.CategoricalDtype | None = None

    def encode(self, values: pa.ChunkedArray) -> pd.Categorical:
        import pyarrow as pa

        if not pa.types.is_dictionary(values.type):
            raise TypeError(f"shared key not encoded by the reader ({values.type})")
        encoded = values.combine_chunks()  # one chunk from the reader; equal dictionaries concatenate
        if self._dtype is None or not encoded.dictionary.equals(self._dictionary):
            if self._dtype is not None:
                raise TypeError("shared key encoded against different dictionaries")
            self._dictionary = encoded.dictionary
            categories = pd.Index(encoded.dictionary.to_pylist(), dtype=pd.StringDtype(na_value=np.nan))
            self._dtype = pd.CategoricalDtype(categories)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        return pd.Categorical.from_codes(codes, dtype=self._dtype)


def _frame(request: FrameRequest, data: pa.Table, shared_key: str | None) -> pd.DataFrame | None:
    """One table's frame (the shared key as a placeholder, filled in by the caller); None when empty."""
    table, columns = request
    if data.num_rows == 0:
        return None
    return pd.DataFrame(
        {
            c: np.zeros(len(data)) if c == shared_key else _column(column_kind(table.c[c]), data.column(c))
            for c in columns
        },
        copy=False,
    )


def _column(kind: Kind, values: pa.ChunkedArray) -> pd.Series:
    """One column with the dtype the reference reader gives (pandas' inference over Python values)."""
    import pyarrow as pa

    n = len(values)
    if values.null_count == n:  # all NULL: pandas keeps None in an object column (times: NaT)
        if kind == "time":
            return pd.to_datetime(pd.Series([None] * n, dtype=object), utc=True)
        return pd.Series(np.full(n, None, dtype=object))
    if kind == "text":
        if not pa.types.is_dictionary(values.type) or values.type.value_type != pa.string():
            raise TypeError(f"text column not encoded by the reader ({values.type})")
        encoded = values.combine_chunks()  # one chunk from the reader
        # one Python string per distinct value (ids and categories repeat), as the DBAPI reader shares them
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        labels = np.asarray([*encoded.dictionary.to_pylist(), None], dtype=object)
        return pd.Series(labels[codes], copy=False).infer_objects()
    if kind == "time":
        if not pa.types.is_timestamp(values.type):  # text the reader could not cast: not SQLAlchemy's format
            parsed = pd.to_datetime(values.to_pandas(), utc=True, format="ISO8601").dt.tz_convert(None)
            return pd.Series(parsed.dt.as_unit("us").dt.tz_localize("UTC"), copy=False)
        return pd.Series(values.to_pandas(), copy=False).dt.tz_localize("UTC")
    return number_column(kind, values.to_numpy(zero_copy_only=False).astype(float))  # nulls as NaN
