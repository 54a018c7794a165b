"""Columnar reads of a SQLite store file through ADBC: Arrow arrays, no Python object per value.

Reading a million messages through Python's ``sqlite3`` builds ten million Python objects (2.3 s before
any conversion, ~6 s with it); the Arrow Database Connectivity driver for SQLite (Apache Arrow's
``adbc-driver-sqlite``) steps the same query in C into Arrow arrays, without holding the GIL, so the
deal and message tables are read side by side on two cores (1.6 s together on the 1M store). The
frames are exactly those of the reference reader (``pd.read_sql``; ``tests/test_store_frames.py``),
except for row order, which no caller relies on.

Only for file databases (an in-memory SQLite database is private to its connection); the caller falls
back to the DBAPI reader (:mod:`feedbackloop.store.frames`) on anything this reader cannot take.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from feedbackloop.store.frames import Kind, column_kind

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["FrameRequest", "read_frames", "sqlite_file"]

#: Scan the whole table instead of walking the tenant index when the tenant holds at least this share
#: of its rows: an index walk looks every row up by rowid (random reads), a scan reads pages in order.
SCAN_SHARE = 0.2


class FrameRequest(NamedTuple):
    """One table's columns to read for a tenant."""

    table: sa.Table
    columns: Sequence[str]


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other backends and in-memory databases."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):
        return None  # URI filenames carry their own options; the DBAPI reader honours them
    path = Path(parsed.database).expanduser()
    return path if path.is_file() else None


def read_frames(
    path: Path, requests: Sequence[FrameRequest], tenant_id: int, *, shared_key: str | None = None
) -> list[pd.DataFrame | None]:
    """The requested tables' rows of a tenant as frames, read concurrently; None for a table without
    rows. With ``shared_key``, that text column comes back as one pandas Categorical shared by all the
    frames (see :meth:`feedbackloop.store.repo.Store.frames`). Raises ImportError when ADBC is not
    installed and the driver's errors on data it cannot type."""
    import adbc_driver_sqlite.dbapi  # noqa: F401  (fail before starting threads)

    if len(requests) == 1:
        read = [_read(path, requests[0], tenant_id, shared_key)]
    else:
        with ThreadPoolExecutor(max_workers=min(len(requests), 2), thread_name_prefix="frames") as pool:
            futures = [pool.submit(_read, path, r, tenant_id, shared_key) for r in requests]
            read = [f.result() for f in futures]
    keys = [key for _, key in read if key is not None]
    if keys:
        shared = _shared_categories(keys)
        for frame, key in read:
            if frame is not None and key is not None:
                frame[shared_key] = shared(key)
    return [frame for frame, _ in read]


def _shared_categories(keys: list[pa.ChunkedArray]) -> Callable[[pa.ChunkedArray], pd.Categorical]:
    """Encoder of text columns into Categoricals of one dtype: every distinct value, sorted."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for key in keys:
        if not pa.types.is_string(key.type) and not pa.types.is_large_string(key.type):
            raise TypeError(f"shared key stored as {key.type}")
    distinct = pc.unique(pa.chunked_array([c for k in keys for c in k.chunks], type=keys[0].type))
    distinct = distinct.filter(pc.is_valid(distinct))
    ordered = distinct.take(pc.sort_indices(distinct))  # UTF-8 byte order is code point order, as str sorts
    dtype = pd.CategoricalDtype(pd.Index(ordered.to_pylist(), dtype=pd.StringDtype(na_value=np.nan)))

    def encode(values: pa.ChunkedArray) -> pd.Categorical:
        codes = pc.index_in(values, value_set=ordered).fill_null(-1).to_numpy(zero_copy_only=False)
        return pd.Categorical.from_codes(codes.astype(np.int32), dtype=dtype)

    return encode


def _read(
    path: Path, request: FrameRequest, tenant_id: int, shared_key: str | None
) -> tuple[pd.DataFrame | None, pa.ChunkedArray | None]:
    """(frame, the shared key's raw column when the table has it) of one table; (None, None) when empty."""
    import adbc_driver_sqlite.dbapi as adbc

    table, columns = request
    quote = '"{}"'.format
    with adbc.connect(f"file:{path}?mode=ro") as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {quote(table.name)} WHERE tenant_id = ?", (tenant_id,))
        mine = int(cursor.fetchone()[0])  # type: ignore[index]
        if mine == 0:
            return None, None
        cursor.execute(f"SELECT count(*) FROM {quote(table.name)}")
        everything = int(cursor.fetchone()[0])  # type: ignore[index]
        scan = " NOT INDEXED" if mine >= SCAN_SHARE * everything else ""
        # one batch for all rows: the driver types each column from the values of its first batch
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(mine + 1)})
        names = ", ".join(quote(c) for c in columns)
        cursor.execute(f"SELECT {names} FROM {quote(table.name)}{scan} WHERE tenant_id = ?", (tenant_id,))
        data = cursor.fetch_arrow_table()
    if data.num_rows == 0:
        return None, None
    frame = pd.DataFrame(
        {c: _column(column_kind(table.c[c]), data.column(c)) for c in columns if c != shared_key},
        copy=False,
    )
    if shared_key is None or shared_key not in columns:
        return frame, None
    # a placeholder in the column's place: the caller encodes the key once it has read every table
    frame.insert(list(columns).index(shared_key), shared_key, np.zeros(len(frame)))
    return frame, data.column(shared_key)


def _column(kind: Kind, values: pa.ChunkedArray) -> pd.Series:
    """One column with the dtype the reference reader gives (pandas' inference over Python values)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = len(values)
    if values.null_count == n:  # all NULL: pandas keeps None in an object column (times: NaT)
        if kind == "time":
            return pd.to_datetime(pd.Series([None] * n, dtype=object), utc=True)
        return pd.Series(np.full(n, None, dtype=object))
    if kind == "text":
        if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
            raise TypeError(f"text column stored as {values.type}")
        # one Python string per distinct value (ids and categories repeat), as the DBAPI reader shares them
        encoded = pc.dictionary_encode(values).combine_chunks()
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False)
        labels = np.asarray([*encoded.dictionary.to_pylist(), None], dtype=object)
        return pd.Series(labels[codes], copy=False).infer_objects()
    if kind == "time":
        try:
            stamps = pc.cast(values, pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # not SQLAlchemy's own text format
            parsed = pd.to_datetime(values.to_pandas(), utc=True, format="ISO8601")
            return pd.Series(parsed.dt.tz_convert(None).dt.as_unit("us").dt.tz_localize("UTC"), copy=False)
        return pd.Series(stamps.to_pandas(), copy=False).dt.tz_localize("UTC")
    numbers = values.to_numpy(zero_copy_only=False).astype(float)  # nulls as NaN
    missing = np.isnan(numbers)
    if kind == "float":
        return pd.Series(numbers)
    if not missing.any():
        return pd.Series(numbers.astype(bool if kind == "bool" else np.int64))
    if kind == "int":
        return pd.Series(numbers)
    out = np.full(n, None, dtype=object)
    out[~missing] = numbers[~missing].astype(bool)
    return pd.Series(out)
