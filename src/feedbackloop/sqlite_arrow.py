"""Tables of a SQLite file read into Arrow by a child process: ``python -m feedbackloop.sqlite_arrow``.

The ADBC SQLite driver (Apache Arrow's ``adbc-driver-sqlite``) steps a query in C straight into Arrow
arrays, several times faster than Python's ``sqlite3``. But it carries its own copy of SQLite, and two
copies of SQLite in one process do not know about each other's POSIX advisory locks: closing the
driver's connection can drop the locks that the store's own connections (Python's ``sqlite3``) hold on
the same file, which the SQLite documentation lists as a way to corrupt a database ("How To Corrupt An
SQLite Database File", 2.2.1; a test here saw a stale read). In a process of its own the driver is one
more reader that locks like any other. The child also runs on the other core while the parent imports
the engine. Only the standard library, pyarrow and the driver are imported here (fast start).

Protocol: ``argv`` = database file, tenant id, a JSON list of ``[table, [[column, kind], ...]]`` (kind
as :func:`feedbackloop.store.frames.column_kind` names it) and optionally a shared key column; stdout =
one Arrow IPC stream per table, in that order (a table without the tenant's rows is an empty stream);
on failure a one-line message on stderr and exit status 1. The work that needs no Python objects is
done here, beside the parent: text columns are dictionary-encoded, text times cast to timestamps, and
the shared key of every table is encoded against one sorted dictionary of all its values.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from typing import Any

__all__ = ["SCAN_SHARE", "main", "prepare", "read_table", "share_key"]

#: Scan the whole table instead of walking the tenant index when the tenant holds at least this share
#: of its rows: an index walk looks every row up by rowid (random reads), a scan reads pages in order.
#: ``FEEDBACKLOOP_SQLITE_SCAN_SHARE`` overrides it (the tests force each plan with it).
SCAN_SHARE = float(os.environ.get("FEEDBACKLOOP_SQLITE_SCAN_SHARE", "0.2"))


def read_table(path: str, table: str, columns: list[str], tenant_id: int) -> Any:
    """The tenant's rows of ``table`` as a ``pyarrow.Table`` (no rows: an empty table of nulls)."""
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    quote = '"{}"'.format
    # A plain absolute filename (SQLite takes only "file:" names as URIs), not mode=ro: a read-only
    # connection cannot create the WAL index (-shm) when no other connection has it open.
    with adbc.connect(path) as conn, conn.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 30000")  # wait for writers, as the store's connections do
        cursor.execute(f"SELECT count(*) FROM {quote(table)} WHERE tenant_id = ?", (tenant_id,))
        mine = int(cursor.fetchone()[0])  # type: ignore[index]
        if mine == 0:
            return pa.table({c: pa.nulls(0) for c in columns})
        cursor.execute(f"SELECT count(*) FROM {quote(table)}")
        everything = int(cursor.fetchone()[0])  # type: ignore[index]
        scan = " NOT INDEXED" if mine >= SCAN_SHARE * everything else ""
        # one batch for all rows: the driver types each column from the values of its first batch
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(mine + 1)})
        names = ", ".join(quote(c) for c in columns)
        cursor.execute(f"SELECT {names} FROM {quote(table)}{scan} WHERE tenant_id = ?", (tenant_id,))
        return cursor.fetch_arrow_table()


def prepare(data: Any, kinds: dict[str, str]) -> Any:
    """Text columns dictionary-encoded, text times as timestamps (left as text when the cast fails);
    columns not in ``kinds`` are left as they are."""
    import pyarrow as pa
    import pyarrow.compute as pc

    columns = []
    for name in data.column_names:
        values = data.column(name)
        if pa.types.is_string(values.type) and kinds.get(name) == "text":
            values = pc.dictionary_encode(values)
        elif pa.types.is_string(values.type) and kinds.get(name) == "time":
            # left as text when it is not SQLAlchemy's own format: the parent parses it
            with contextlib.suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
                values = pc.cast(values, pa.timestamp("us"))
        columns.append(values)
    return pa.table(columns, names=data.column_names)


def share_key(tables: list[Any], key: str) -> list[Any]:
    """``key`` in every table that has it as text, encoded against one sorted dictionary of its values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    having = [t for t in tables if key in t.column_names and pa.types.is_string(t.column(key).type)]
    if not having or len(having) != sum(key in t.column_names for t in tables):
        return tables
    chunks = [c for t in having for c in t.column(key).chunks]
    distinct = pc.unique(pa.chunked_array(chunks, type=pa.string()))
    distinct = distinct.filter(pc.is_valid(distinct))
    ordered = distinct.take(pc.sort_indices(distinct))  # UTF-8 byte order is code point order, as str sorts
    out = []
    for t in tables:
        if key in t.column_names:
            indices = pc.index_in(t.column(key), value_set=ordered).combine_chunks().cast(pa.int32())
            encoded = pa.DictionaryArray.from_arrays(indices, ordered)
            t = t.set_column(t.column_names.index(key), key, encoded)
        out.append(t)
    return out


def main(argv: list[str] | None = None) -> int:
    """Read the requested tables (two at a time) and write them to stdout as Arrow IPC streams."""
    import pyarrow as pa

    try:
        args = argv if argv is not None else sys.argv[1:]
        path, tenant, spec = args[:3]
        key = args[3] if len(args) > 3 else None
        requests = [(str(t), {str(c): str(k) for c, k in cols}) for t, cols in json.loads(spec)]

        def read(table: str, kinds: dict[str, str]) -> Any:
            plain = {c: k for c, k in kinds.items() if c != key}  # the key is encoded across tables
            return prepare(read_table(path, table, list(kinds), int(tenant)), plain)

        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(read, t, kinds) for t, kinds in requests]
            tables = [f.result() for f in futures]
        if key:
            tables = share_key(tables, key)
    except Exception as exc:  # the parent falls back to its own reader and logs this line
        print(f"{exc.__class__.__name__}: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    out = sys.stdout.buffer
    for data in tables:
        with pa.ipc.new_stream(out, data.schema) as writer:
            writer.write_table(data)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
