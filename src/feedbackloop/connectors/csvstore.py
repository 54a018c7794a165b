"""Writing validated import files to the store in one transaction (tenant row included).

Only the columns present in a file are updated on re-import; columns a file leaves out keep their
stored values. Template status and pin are never touched: they are decisions, not data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from feedbackloop.connectors.csvvalidate import CheckedTable
from feedbackloop.connectors.csvwrite import bulk_upsert, nullable, utc_text
from feedbackloop.store import Store, utcnow
from feedbackloop.store.models import DealRow, MessageRow, TemplateRow, Tenant

__all__ = ["Written", "existing_ids", "write_all"]

Columns = dict[str, npt.NDArray[np.object_]]
_IN_BATCH = 500
_FETCH_ALL_ABOVE = 20_000


@dataclass
class Written:
    """Per role: (rows upserted, rows inserted or changed); and templates created from messages."""

    counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    templates_from_messages: int = 0


def existing_ids(store: Store, model: type[Any], tenant_id: int, wanted: Iterable[str]) -> set[str]:
    """Which of ``wanted`` ids exist in ``model``'s table for the tenant."""
    wanted = set(wanted)
    with store.db.engine.connect() as conn:
        return _existing(conn, model, tenant_id, wanted)


def _existing(conn: Connection, model: type[Any], tenant_id: int, wanted: set[str]) -> set[str]:
    if not wanted:
        return set()
    table: sa.Table = model.__table__
    key = next(c for c in table.primary_key.columns if c.name != "tenant_id")
    base = sa.select(key).where(table.c.tenant_id == tenant_id)
    if len(wanted) > _FETCH_ALL_ABOVE:
        return {row[0] for row in conn.execute(base)} & wanted
    ordered = sorted(wanted)
    found: set[str] = set()
    for start in range(0, len(ordered), _IN_BATCH):
        found.update(r[0] for r in conn.execute(base.where(key.in_(ordered[start : start + _IN_BATCH]))))
    return found


def write_all(
    store: Store,
    tenant_name: str,
    tables: dict[str, CheckedTable],
    progress: Callable[[str, int, int], None],
) -> Written:
    """Upsert the valid rows of every table into ``tenant_name`` (created if missing)."""
    written = Written()
    with store.db.engine.begin() as conn:
        tenant_id = _ensure_tenant(conn, tenant_name)
        dialect = conn.dialect.name
        for role in ("deals", "templates", "messages"):
            table = tables.get(role)
            if table is None:
                continue
            rows = np.flatnonzero(~table.bad)
            columns = _columns(table, rows, dialect)
            update = [c for c in columns if c != table.spec.key]
            insert_only: dict[str, Any] = {"tenant_id": tenant_id}
            if role == "deals":
                insert_only["source"] = "csv"
            elif role == "templates":
                insert_only |= {"status": "active", "pinned": False}
            else:
                insert_only |= {"direction": "outbound"}
                if "channel" in columns:
                    channel = columns["channel"]
                    channel[pd.isna(channel)] = "email"
                else:
                    insert_only["channel"] = "email"
            for name, value in insert_only.items():
                columns[name] = np.full(rows.size, value, dtype=object)
            if role == "messages":
                written.templates_from_messages = _implied_templates(conn, tenant_id, tables, rows)
            model = {"deals": DealRow, "templates": TemplateRow, "messages": MessageRow}[role]
            changed = bulk_upsert(
                conn,
                _table(model),
                columns,
                keys=["tenant_id", table.spec.key],
                update=update,
                progress=_counter(progress, f"writing {role}", int(rows.size)),
            )
            written.counts[role] = (int(rows.size), changed)
    return written


def _table(model: type[Any]) -> sa.Table:
    table: sa.Table = model.__table__
    return table


def _counter(progress: Callable[[str, int, int], None], stage: str, total: int) -> Callable[[int], None]:
    """Turn "n more rows written" into ``progress(stage, done, total)`` calls."""
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n
        progress(stage, done, total)

    return advance


def _ensure_tenant(conn: Connection, name: str) -> int:
    insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    table: sa.Table = Tenant.__table__  # type: ignore[assignment]
    values = {"name": name, "provider": "csv", "settings": {}, "created_at": utcnow()}
    conn.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=["name"]))
    return int(conn.execute(sa.select(table.c.id).where(table.c.name == name)).scalar_one())


def _implied_templates(
    conn: Connection, tenant_id: int, tables: dict[str, CheckedTable], rows: npt.NDArray[np.int64]
) -> int:
    """Create (status active) every template that imported messages name but nobody defined."""
    messages = tables["messages"]
    if "template_id" not in messages.values:
        return 0
    used = set(pd.unique(messages.values["template_id"][rows]).tolist()) - {""}
    defined = tables.get("templates")
    if defined is not None:
        used -= set(defined.values["template_id"][~defined.bad].tolist())
    missing = sorted(used - _existing(conn, TemplateRow, tenant_id, used))
    if not missing:
        return 0
    size = len(missing)
    columns: Columns = {
        "tenant_id": np.full(size, tenant_id, dtype=object),
        "template_id": np.array(missing, dtype=object),
        "status": np.full(size, "active", dtype=object),
        "pinned": np.full(size, False, dtype=object),
    }
    return bulk_upsert(conn, _table(TemplateRow), columns, keys=["tenant_id", "template_id"], update=[])


def _columns(table: CheckedTable, rows: npt.NDArray[np.int64], dialect: str) -> Columns:
    """The driver-ready values of the present columns, for the given rows."""
    out: Columns = {}
    for column in table.spec.columns:
        values = table.values.get(column.name)
        if values is None:
            continue
        if column.kind == "timestamp":
            out[column.name] = utc_text(values.iloc[rows], dialect)
        elif column.kind in ("id", "text", "outcome"):
            picked = values[rows]
            out[column.name] = nullable(picked, picked == "")
        elif column.kind == "boolean":
            flags = values[rows]
            out[column.name] = nullable(flags.astype(np.int64), flags < 0)
        elif column.kind == "position":
            numbers = values[rows]
            missing = np.isnan(numbers)
            out[column.name] = nullable(np.where(missing, 0, numbers).astype(np.int64), missing)
        else:
            numbers = values[rows]
            out[column.name] = nullable(numbers, np.isnan(numbers))
    return out
