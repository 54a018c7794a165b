"""The store's repository: tenant-scoped reads and writes that the CLI, connectors and jobs share.

Reads for the engine return pandas DataFrames with the domain's column names; writes are idempotent
upserts keyed by the CRM's ids, so re-importing or re-syncing the same records changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from feedbackloop.crypto import SecretBox
from feedbackloop.errors import UsageError
from feedbackloop.sqlite_arrow import Reader
from feedbackloop.store import columnar
from feedbackloop.store.db import Database
from feedbackloop.store.frames import column_kind, read_frame
from feedbackloop.store.models import (
    Credential,
    DealRow,
    MessageRow,
    OptimizerStateRow,
    SyncStateRow,
    TemplateRow,
    TemplateStatusChange,
    Tenant,
)
from feedbackloop.store.upsert import upsert_rows

__all__ = ["DEFAULT_TENANT", "Store", "TenantRef", "utcnow"]

DEFAULT_TENANT = "default"

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class TenantRef:
    """A tenant as the rest of the code sees it."""

    id: int
    name: str
    provider: str
    external_id: str | None
    settings: dict[str, Any]


def _ref(row: Tenant) -> TenantRef:
    return TenantRef(row.id, row.name, row.provider, row.external_id, dict(row.settings or {}))


def _share_categories(frames: list[pd.DataFrame], key: str) -> None:
    """Turn ``key`` in every frame that has it into a Categorical of one dtype (sorted distinct values)."""
    having = [f for f in frames if key in f.columns and len(f)]
    if not having:
        return
    codes, values = pd.factorize(pd.concat([f[key] for f in having], ignore_index=True), sort=True)
    dtype = pd.CategoricalDtype(pd.Index(values))
    start = 0
    for frame in having:
        frame[key] = pd.Categorical.from_codes(codes[start : start + len(frame)], dtype=dtype)
        start += len(frame)


def _aware(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """SQLite hands back naive datetimes (stored as UTC); make every time column UTC-aware."""
    for column in columns:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


class Store:
    """Tenant-scoped persistence over a :class:`Database`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    # -- tenants ---------------------------------------------------------------------------------
    def list_tenants(self) -> list[TenantRef]:
        with self.db.session() as s:
            return [_ref(t) for t in s.scalars(sa.select(Tenant).order_by(Tenant.name))]

    def get_tenant(self, name: str) -> TenantRef | None:
        with self.db.session() as s:
            row = s.scalar(sa.select(Tenant).where(Tenant.name == name))
            return _ref(row) if row else None

    def create_tenant(
        self,
        name: str,
        provider: str = "csv",
        external_id: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> TenantRef:
        """Create a tenant, or return the existing one of that name (idempotent)."""
        with self.db.session() as s:
            row = Tenant(
                name=name,
                provider=provider,
                external_id=external_id,
                settings=settings or {},
                created_at=utcnow(),
            )
            s.add(row)
            try:
                s.commit()
            except IntegrityError:
                s.rollback()
                existing = self.get_tenant(name)
                assert existing is not None
                return existing
            return _ref(row)

    def update_tenant(self, tenant: TenantRef, **values: Any) -> TenantRef:
        with self.db.session() as s:
            s.execute(sa.update(Tenant).where(Tenant.id == tenant.id).values(**values))
            s.commit()
        updated = self.get_tenant(values.get("name", tenant.name))
        assert updated is not None
        return updated

    def resolve_tenant(self, name: str | None, *, create: bool = True) -> TenantRef:
        """The tenant a command should act on.

        With a name: that tenant (created when ``create``). Without: the only tenant, or ``default``
        when there are none; several tenants and no name is a usage error listing them.
        """
        if name:
            found = self.get_tenant(name)
            if found:
                return found
            if create:
                return self.create_tenant(name)
            known = ", ".join(t.name for t in self.list_tenants()) or "none yet"
            raise UsageError(f"unknown tenant {name!r} (known tenants: {known})")
        tenants = self.list_tenants()
        if len(tenants) == 1:
            return tenants[0]
        if not tenants:
            if not create:
                raise UsageError("there are no tenants yet; import data or connect a CRM first")
            return self.create_tenant(DEFAULT_TENANT)
        names = ", ".join(t.name for t in tenants)
        raise UsageError(f"several tenants exist ({names}); choose one with --tenant")

    # -- deals, messages, templates --------------------------------------------------------------
    def upsert(self, model: type[Any], tenant: TenantRef, rows: Iterable[dict[str, Any]]) -> int:
        """Upsert domain rows (dicts with the table's column names, without tenant_id)."""
        table = model.__table__
        keys = [c.name for c in table.primary_key.columns]
        with self.db.engine.begin() as conn:
            return upsert_rows(conn, table, ({"tenant_id": tenant.id, **r} for r in rows), keys=keys)

    def apply(
        self,
        tenant: TenantRef,
        upserts: list[tuple[type[Any], list[dict[str, Any]]]],
        *,
        state: tuple[type[SyncStateRow] | type[OptimizerStateRow], str, dict[str, Any]] | None = None,
    ) -> None:
        """Several upserts and (optionally) a state write in ONE transaction: all land or none."""
        with self.db.engine.begin() as conn:
            for model, rows in upserts:
                if rows:
                    table = model.__table__
                    keys = [c.name for c in table.primary_key.columns]
                    upsert_rows(conn, table, ({"tenant_id": tenant.id, **r} for r in rows), keys=keys)
            if state is not None:
                model, key, value = state
                key_column = "stream" if model is SyncStateRow else "name"
                upsert_rows(
                    conn,
                    model.__table__,  # type: ignore[arg-type]
                    [{"tenant_id": tenant.id, key_column: key, "state": value, "updated_at": utcnow()}],
                    keys=["tenant_id", key_column],
                )

    def count(self, model: type[Any], tenant: TenantRef) -> int:
        with self.db.session() as s:
            return int(
                s.scalar(sa.select(sa.func.count()).select_from(model).where(model.tenant_id == tenant.id))
                or 0
            )

    def deals_frame(self, tenant: TenantRef, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """All deals of a tenant, one row per deal (only ``columns`` when given)."""
        return self._frame(DealRow, tenant, columns)

    def messages_frame(self, tenant: TenantRef, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """All messages of a tenant, one row per message (only ``columns`` when given)."""
        return self._frame(MessageRow, tenant, columns)

    def templates_frame(self, tenant: TenantRef, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """All templates of a tenant with their status and pin (only ``columns`` when given)."""
        return self._frame(TemplateRow, tenant, columns)

    def frames(
        self,
        tenant: TenantRef,
        requests: Sequence[tuple[type[Any], Sequence[str] | None]],
        *,
        shared_key: str | None = None,
        reader: Reader | None = None,
    ) -> list[pd.DataFrame]:
        """Several tables of a tenant at once, e.g. ``[(DealRow, cols), (MessageRow, cols)]``.

        On a SQLite file the tables are read side by side (:mod:`feedbackloop.store.columnar`); row
        order within a frame is not defined (the readers may scan the table or walk an index). With
        ``shared_key`` (e.g. "deal_id"), that column comes back in every frame as a pandas Categorical of
        one dtype whose categories are all its distinct values, sorted: codes compare, join and sort as
        the ids do, without hashing a million strings again (the engine's joins use them). ``reader``:
        a columnar read already started (:func:`feedbackloop.analysis_input.start_reading`); used when it
        read these tables of this tenant, discarded otherwise.
        """
        wanted = [(model.__table__, self._columns(model, columns)) for model, columns in requests]
        found = self._columnar(tenant, wanted, shared_key, reader)
        frames = [
            self._frame(model, tenant, names) if frame is None else frame
            for (model, _), (_, names), frame in zip(requests, wanted, found, strict=True)
        ]
        if shared_key is not None:
            keyed = [f[shared_key] for f in frames if shared_key in f.columns and len(f)]
            if keyed and not all(isinstance(k.dtype, pd.CategoricalDtype) for k in keyed):
                _share_categories(frames, shared_key)  # the columnar reader did not read them all
        return frames

    def _columns(self, model: type[Any], columns: Sequence[str] | None) -> list[str]:
        table = model.__table__
        names = [c.name for c in table.columns if c.name != "tenant_id"]
        if columns is not None:
            unknown = sorted(set(columns) - set(names))
            if unknown:
                raise UsageError(f"unknown {table.name} columns: {', '.join(unknown)}")
            names = [n for n in names if n in set(columns)]
        return names

    def _columnar(
        self,
        tenant: TenantRef,
        wanted: Sequence[tuple[sa.Table, list[str]]],
        shared_key: str | None = None,
        reader: Reader | None = None,
    ) -> list[pd.DataFrame | None]:
        """The columnar reader's frames (None where it found no rows, the tables are small or it cannot
        read the database)."""
        path = columnar.sqlite_file(self.db.url)
        # a reader already started has paid its start: take its tables whatever their size
        small = reader is None and self._largest(tenant, [table for table, _ in wanted]) < columnar.MIN_ROWS
        if path is not None and not small:
            try:
                requests = [columnar.FrameRequest(table, names) for table, names in wanted]
                return columnar.read_frames(path, requests, tenant.id, shared_key=shared_key, reader=reader)
            except Exception as exc:  # e.g. ADBC missing or a value it cannot type: the DBAPI reader reads
                log.debug("columnar read not used: %s: %s", exc.__class__.__name__, exc)
        elif reader is not None:
            reader.discard()
        return [None] * len(wanted)

    def _largest(self, tenant: TenantRef, tables: Sequence[sa.Table]) -> int:
        """The most rows the tenant has in any of ``tables`` (counted on the tenant index)."""
        counts = [sa.select(sa.func.count()).select_from(t).where(t.c.tenant_id == tenant.id) for t in tables]
        with self.db.engine.connect() as conn:
            return max(int(conn.scalar(query) or 0) for query in counts)

    def _frame(self, model: type[Any], tenant: TenantRef, columns: Sequence[str] | None) -> pd.DataFrame:
        """The fast readers (:mod:`~feedbackloop.store.columnar`, :mod:`~feedbackloop.store.frames`);
        empty results via SQLAlchemy."""
        table = model.__table__
        names = self._columns(model, columns)
        frame = self._columnar(tenant, [(table, names)])[0]
        if frame is None:
            with self.db.engine.connect() as conn:
                frame = read_frame(conn, table, names, ("tenant_id", tenant.id))
        return self._frame_sqlalchemy(model, tenant, names) if frame is None else frame

    def _frame_sqlalchemy(self, model: type[Any], tenant: TenantRef, names: Sequence[str]) -> pd.DataFrame:
        """The reference reader: ``pd.read_sql`` over SQLAlchemy rows (slow; the frames' definition)."""
        table = model.__table__
        query = sa.select(*(table.c[n] for n in names)).where(table.c.tenant_id == tenant.id)
        with self.db.engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        return _aware(frame, [n for n in names if column_kind(table.c[n]) == "time"])

    # -- template status -------------------------------------------------------------------------
    def set_template_status(
        self,
        tenant: TenantRef,
        template_id: str,
        status: str,
        *,
        actor: str,
        reason: str | None = None,
        pinned: bool | None = None,
        run_id: int | None = None,
    ) -> str | None:
        """Change a template's status (and pin), recording the change; returns the old status."""
        with self.db.session() as s:
            row = s.get(TemplateRow, (tenant.id, template_id))
            if row is None:
                raise UsageError(f"unknown template {template_id!r} in tenant {tenant.name!r}")
            old = row.status
            new_pin = row.pinned if pinned is None else pinned
            if old == status and new_pin == row.pinned:
                return old
            now = utcnow()
            row.status, row.pinned, row.status_changed_at = status, new_pin, now
            s.add(
                TemplateStatusChange(
                    tenant_id=tenant.id,
                    template_id=template_id,
                    old_status=old,
                    new_status=status,
                    pinned=new_pin,
                    actor=actor,
                    reason=reason,
                    run_id=run_id,
                    changed_at=now,
                )
            )
            s.commit()
            return old

    def template_history(self, tenant: TenantRef, template_id: str) -> list[dict[str, Any]]:
        with self.db.session() as s:
            rows = s.scalars(
                sa.select(TemplateStatusChange)
                .where(
                    TemplateStatusChange.tenant_id == tenant.id,
                    TemplateStatusChange.template_id == template_id,
                )
                .order_by(TemplateStatusChange.id)
            )
            return [
                {
                    "old_status": r.old_status,
                    "new_status": r.new_status,
                    "pinned": r.pinned,
                    "actor": r.actor,
                    "reason": r.reason,
                    "changed_at": r.changed_at.isoformat(),
                }
                for r in rows
            ]

    # -- sync state, optimizer state -------------------------------------------------------------
    def get_state(
        self, model: type[SyncStateRow] | type[OptimizerStateRow], tenant: TenantRef, key: str
    ) -> dict[str, Any]:
        with self.db.session() as s:
            row = s.get(model, (tenant.id, key))
            return dict(getattr(row, "state", None) or {})

    def put_state(
        self,
        model: type[SyncStateRow] | type[OptimizerStateRow],
        tenant: TenantRef,
        key: str,
        state: dict[str, Any],
    ) -> None:
        self.apply(tenant, [], state=(model, key, state))

    # -- credentials -----------------------------------------------------------------------------
    def put_credential(
        self, tenant: TenantRef, kind: str, secret: str, box: SecretBox, expires_at: datetime | None = None
    ) -> None:
        """Store a secret encrypted; it is never written in plain text."""
        with self.db.engine.begin() as conn:
            upsert_rows(
                conn,
                Credential.__table__,  # type: ignore[arg-type]
                [
                    {
                        "tenant_id": tenant.id,
                        "kind": kind,
                        "ciphertext": box.encrypt(secret),
                        "expires_at": expires_at,
                        "updated_at": utcnow(),
                    }
                ],
                keys=["tenant_id", "kind"],
            )

    def get_credential(self, tenant: TenantRef, kind: str, box: SecretBox) -> str | None:
        with self.db.session() as s:
            row = s.get(Credential, (tenant.id, kind))
            return box.decrypt(row.ciphertext) if row else None
