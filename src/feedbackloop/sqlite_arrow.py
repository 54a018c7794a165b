"""Tables of a SQLite file read into Arrow by a child process: ``python -m feedbackloop.sqlite_arrow``.

The ADBC SQLite driver (Apache Arrow's ``adbc-driver-sqlite``) steps a query in C straight into Arrow
arrays, several times faster than Python's ``sqlite3``. But it carries its own copy of SQLite, and two
copies of SQLite in one process do not know about each other's POSIX advisory locks: closing the
driver's connection can drop the locks that the store's own connections (Python's ``sqlite3``) hold on
the same file, which the SQLite documentation lists as a way to corrupt a database ("How To Corrupt An
SQLite Database File", 2.2.1; a test here saw a stale read). In a process of its own the driver is one
more reader that locks like any other. The child also runs on the other core while the parent imports
the engine, and it can start before the parent has opened the store (:func:`start`). Only the
standard library, pyarrow and the driver are imported here, so it starts fast.

Protocol: ``argv`` = database file, tenant (``id:N``, ``name:NAME`` or ``only`` for the only tenant), a
JSON list of ``[table, [columns...]]`` and optionally a shared key column. stdout = the tenant's id as
8 bytes (little-endian, -1 when there is no such tenant, then nothing else), then one Arrow IPC stream
per table in that order (a table without the tenant's rows is an empty stream). On failure: a one-line
message on stderr and exit status 1. The work that needs no Python objects is done here: text columns
are dictionary-encoded, text times cast to timestamps, and the shared key of every table is encoded
against one sorted dictionary of all its values.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SCAN_SHARE", "Reader", "kind_of", "main", "prepare", "read_table", "resolve_tenant",
    "share_key", "sqlite_file", "start",
]  # fmt: skip

#: Scan the whole table instead of walking the tenant index when the tenant holds at least this share
#: of its rows: an index walk looks every row up by rowid (random reads), a scan reads pages in order.
#: ``FEEDBACKLOOP_SQLITE_SCAN_SHARE`` overrides it (the tests force each plan with it).
SCAN_SHARE = float(os.environ.get("FEEDBACKLOOP_SQLITE_SCAN_SHARE", "0.2"))


@dataclass
class Reader:
    """A running child (see the protocol): its answer is read once with :meth:`receive`; a reader that
    is not needed must be :meth:`discard`-ed (the child would block on a full pipe)."""

    path: str
    tables: list[tuple[str, list[str]]]
    key: str | None
    process: subprocess.Popen[bytes]

    def receive(self, tenant_id: int) -> list[Any] | None:
        """The tables as ``pyarrow.Table``s; None when the child read another tenant (or none).
        Raises RuntimeError with the child's message when it failed."""
        import pyarrow as pa

        stdout, stderr = self.process.stdout, self.process.stderr
        assert stdout is not None
        assert stderr is not None
        try:
            header = stdout.read(8)
            read = int.from_bytes(header, "little", signed=True) if len(header) == 8 else None
            same = read == tenant_id
            tables = [pa.ipc.open_stream(stdout).read_all() for _ in self.tables] if same else []
        except (pa.ArrowInvalid, OSError):
            read, same, tables = None, False, []  # the child stopped early: its message says why
        if read is not None and not same:
            self.discard()
            return None
        message = stderr.read().decode(errors="replace").strip()
        status = self.process.wait()
        if status != 0 or len(tables) != len(self.tables):
            raise RuntimeError(message or f"reader exited with status {status}")
        return tables

    def discard(self) -> None:
        """Stop the child (if it still runs) and reap it; harmless after :meth:`receive`."""
        if self.process.returncode is not None:
            return
        if self.process.poll() is None:
            self.process.kill()
        self.process.communicate()


def start(path: str, tenant: str, tables: list[tuple[str, list[str]]], key: str | None) -> Reader:
    """Start the child for ``tables`` of ``tenant`` (``id:N``, ``name:NAME`` or ``only``)."""
    spec = json.dumps([[t, list(columns)] for t, columns in tables])
    command = [sys.executable, "-m", "feedbackloop.sqlite_arrow", path, tenant, spec, *([key] if key else [])]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return Reader(path, [(t, list(columns)) for t, columns in tables], key, process)


def sqlite_file(database_url: str) -> str | None:
    """The absolute path of the existing SQLite database file a SQLAlchemy URL names (any driver, the
    name percent-decoded as SQLAlchemy does); None for other backends, in-memory databases and
    ``file:`` URI names (they carry their own options)."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme.split("+", 1)[0] != "sqlite" or not rest.startswith("/"):
        return None
    name = urllib.parse.unquote(rest[1:].split("?", 1)[0])
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_file() else None


def kind_of(declared: str) -> str:
    """How a column is read, from its declared SQLite type (as SQLAlchemy's types declare them)."""
    declared = declared.upper()
    if "BOOL" in declared:
        return "bool"
    if "DATE" in declared or "TIME" in declared:
        return "time"
    if "INT" in declared:
        return "int"
    if any(word in declared for word in ("REAL", "FLOA", "DOUB", "NUMERIC", "DECIMAL")):
        return "float"
    return "text"


def _connect(path: str) -> Any:
    import adbc_driver_sqlite.dbapi as adbc

    # A plain absolute filename (SQLite takes only "file:" names as URIs), not mode=ro: a read-only
    # connection cannot create the WAL index (-shm) when no other connection has it open.
    conn = adbc.connect(path)
    with conn.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout = 30000")  # wait for writers, as the store's connections do
    return conn


def resolve_tenant(path: str, tenant: str) -> int:
    """The tenant's id (-1 when there is none): by id, by name, or the only tenant."""
    with _connect(path) as conn, conn.cursor() as cursor:
        if tenant.startswith("id:"):
            return int(tenant[3:])
        if tenant.startswith("name:"):
            cursor.execute("SELECT id FROM tenants WHERE name = ?", (tenant[5:],))
        else:
            cursor.execute("SELECT id FROM tenants")
        rows = cursor.fetchall()
    return int(rows[0][0]) if len(rows) == 1 else -1


def read_table(path: str, table: str, columns: list[str], tenant_id: int) -> tuple[Any, dict[str, str]]:
    """The tenant's rows of ``table`` as a ``pyarrow.Table`` (no rows: an empty table of nulls), and the
    columns' kinds (:func:`kind_of`)."""
    import pyarrow as pa

    quote = '"{}"'.format
    with _connect(path) as conn, conn.cursor() as cursor:
        cursor.execute(f"PRAGMA table_info({quote(table)})")
        kinds = {str(row[1]): kind_of(str(row[2])) for row in cursor.fetchall()}
        cursor.execute(f"SELECT count(*) FROM {quote(table)} WHERE tenant_id = ?", (tenant_id,))
        mine = int(cursor.fetchone()[0])
        if mine == 0:
            return pa.table({c: pa.nulls(0) for c in columns}), kinds
        cursor.execute(f"SELECT count(*) FROM {quote(table)}")
        everything = int(cursor.fetchone()[0])
        scan = " NOT INDEXED" if mine >= SCAN_SHARE * everything else ""
        # one batch for all rows: the driver types each column from the values of its first batch
        cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(mine + 1)})
        names = ", ".join(quote(c) for c in columns)
        cursor.execute(f"SELECT {names} FROM {quote(table)}{scan} WHERE tenant_id = ?", (tenant_id,))
        return cursor.fetch_arrow_table(), kinds


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
            t = t.set_column(t.column_names.index(key), key, pa.DictionaryArray.from_arrays(indices, ordered))
        out.append(t)
    return out


def main(argv: list[str] | None = None) -> int:
    """Resolve the tenant, read the requested tables (two at a time) and write them to stdout."""
    import pyarrow as pa

    out = sys.stdout.buffer
    try:
        args = argv if argv is not None else sys.argv[1:]
        path, tenant, spec = args[:3]
        key = args[3] if len(args) > 3 else None
        requests = [(str(t), [str(c) for c in columns]) for t, columns in json.loads(spec)]
        tenant_id = resolve_tenant(path, tenant)
        if tenant_id < 0:
            out.write((-1).to_bytes(8, "little", signed=True))
            out.flush()
            return 0

        def read(table: str, columns: list[str]) -> Any:
            data, kinds = read_table(path, table, columns, tenant_id)
            return prepare(data, {c: k for c, k in kinds.items() if c != key})  # the key: across tables

        with ThreadPoolExecutor(max_workers=2) as pool:
            futures = [pool.submit(read, t, columns) for t, columns in requests]
            tables = [f.result() for f in futures]
        if key:
            tables = share_key(tables, key)
    except Exception as exc:  # the parent falls back to its own reader and logs this line
        print(f"{exc.__class__.__name__}: {exc}".replace("\n", " "), file=sys.stderr)
        return 1
    out.write(tenant_id.to_bytes(8, "little", signed=True))
    for data in tables:
        with pa.ipc.new_stream(out, data.schema) as writer:
            writer.write_table(data)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
