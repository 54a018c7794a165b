"""The emulated org's data: world-derived records (rebuilt when the world's clock moves), the API's
writes layered on top, installed custom objects and fields, and the daily API usage counter."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedbackloop.sandbox.salesforce.ids import IdFactory, derived_id
from feedbackloop.sandbox.salesforce.objects import Record, WorldFrames, build_world_tables
from feedbackloop.sandbox.salesforce.schema import FieldDef, Schema

__all__ = ["OrgData", "OrgOptions"]


@dataclass
class OrgOptions:
    """How this org differs from others (every option has the documented Salesforce default)."""

    org_key: str = "sandbox"
    daily_api_limit: int = 100_000
    token_lifetime_seconds: float = 7200.0
    static_token: str | None = "sandbox-token"
    static_token_lifetime_seconds: float | None = None
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"
    disabled_fields: frozenset[str] = frozenset()
    loss_reason_field: str | None = "Loss_Reason__c"
    template_id_rate: float = 0.3
    preinstall: bool = False
    bulk_processing_seconds: float = 0.2
    instance_url: str | None = None


def _default(definition: FieldDef) -> Any:
    """What a record reads for a field it never had a value for (checkboxes are false, not null)."""
    return False if definition.type == "boolean" else None


class OrgData:
    """Records by object, readable by the SOQL evaluator (:class:`~.soql_eval.Tables`) and writable."""

    def __init__(self, world: WorldFrames, lock: AbstractContextManager[Any], options: OrgOptions) -> None:
        self.world, self.world_lock, self.options = world, lock, options
        self.org_id = derived_id("00D", options.org_key)
        self.user_id = derived_id("005", options.org_key + ":integration")
        self.ids = IdFactory()
        self.lock = threading.RLock()
        self._build_lock = threading.Lock()
        self.reset_writes()

    def reset_writes(self) -> None:
        """Forget every write and installed customisation (``/_sandbox/reset``)."""
        with self.lock:
            self.schema = Schema(self.options.disabled_fields)
            if self.options.loss_reason_field:
                self.schema.add_field(
                    "Opportunity",
                    FieldDef(
                        self.options.loss_reason_field,
                        "picklist",
                        custom=True,
                        updateable=True,
                        createable=True,
                        length=255,
                        label="Loss Reason",
                    ),
                )
            self.tooling: dict[str, list[Record]] = {}
            self.object_ids: dict[str, str] = {}
            self.overlay: dict[str, dict[str, Record]] = {}
            self.created: dict[str, dict[str, Record]] = {}
            self.api_used = 0
            self._base: tuple[datetime, dict[str, list[Record]]] | None = None
            self._views: dict[str, tuple[Any, list[Record], dict[str, Record]]] = {}
            self._versions: dict[str, int] = {}
        if self.options.preinstall:
            from feedbackloop.sandbox.salesforce.tooling import install_feedbackloop_objects

            install_feedbackloop_objects(self)

    @property
    def now(self) -> datetime:
        return self.world.now

    def _base_tables(self) -> dict[str, list[Record]]:
        base = self._base
        now = self.world.now
        if base is not None and base[0] == now:
            return base[1]
        with self._build_lock:
            base = self._base
            if base is not None and base[0] == self.world.now:
                return base[1]
            with self.world_lock:
                now = self.world.now
                tables = build_world_tables(
                    self.world,
                    loss_reason_field=self.options.loss_reason_field,
                    template_id_rate=self.options.template_id_rate,
                )
            self._base = (now, tables)
            return tables

    def _view(self, object_name: str) -> tuple[list[Record], dict[str, Record]]:
        base = self._base_tables()
        key = (id(base), self._versions.get(object_name, 0))
        cached = self._views.get(object_name)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        with self.lock:
            overlay = self.overlay.get(object_name, {})
            obj = self.schema.objects.get(object_name)
            known = set(obj.fields) if obj else set()
            base_rows = base.get(object_name, [])
            defaults = (
                {n: _default(obj.fields[n]) for n in known - set(base_rows[0])} if obj and base_rows else {}
            )
            rows: list[Record] = []
            for record in base_rows:
                if defaults:  # fields installed after the world was mapped read as null
                    record = {**defaults, **record}
                changes = overlay.get(record["Id"])
                if changes:
                    stamp = max(record["SystemModstamp"], changes["SystemModstamp"])
                    record = {**record, **changes, "SystemModstamp": stamp, "LastModifiedDate": stamp}
                rows.append(record)
            for record in self.created.get(object_name, {}).values():
                missing = known - record.keys()
                rows.append(
                    {**{n: _default(obj.fields[n]) for n in missing}, **record} if obj and missing else record
                )
            index = {r["Id"][:15]: r for r in rows}
            self._views[object_name] = (key, rows, index)
            return rows, index

    def rows(self, object_name: str) -> Sequence[Record]:
        return self._view(object_name)[0]

    def by_id(self, object_name: str, record_id: str) -> Record | None:
        return self._view(object_name)[1].get(record_id[:15])

    def changed(self, object_name: str) -> None:
        """Invalidate the cached view of ``object_name`` after a write or a schema change."""
        self._versions[object_name] = self._versions.get(object_name, 0) + 1

    def write(self, object_name: str, record_id: str, values: dict[str, Any]) -> None:
        """Store ``values`` on an existing record (call with ``self.lock`` held)."""
        stamp = self.now
        if record_id in self.created.get(object_name, {}):
            self.created[object_name][record_id].update(values, LastModifiedDate=stamp, SystemModstamp=stamp)
        else:
            entry = self.overlay.setdefault(object_name, {}).setdefault(record_id, {})
            entry.update(values, SystemModstamp=stamp, LastModifiedDate=stamp)
        self.changed(object_name)

    def insert(self, object_name: str, values: dict[str, Any]) -> str:
        """Create a record and return its id (call with ``self.lock`` held)."""
        obj = self.schema.objects[object_name]
        record_id = self.ids.new(obj.key_prefix)
        stamp = self.now
        record: Record = {name: _default(f) for name, f in obj.fields.items()}
        record.update(values)
        record.update(
            Id=record_id,
            IsDeleted=False,
            CreatedDate=stamp,
            LastModifiedDate=stamp,
            SystemModstamp=stamp,
            CreatedById=self.user_id,
            LastModifiedById=self.user_id,
        )
        if "Name" in obj.fields and not record.get("Name"):
            record["Name"] = record_id
        if "OwnerId" in obj.fields and not record.get("OwnerId"):
            record["OwnerId"] = self.user_id
        self.created.setdefault(object_name, {})[record_id] = record
        self.changed(object_name)
        return record_id

    def count_api_call(self) -> bool:
        """Count one API call against the daily allocation; False when it is already spent."""
        with self.lock:
            if self.api_used >= self.options.daily_api_limit:
                return False
            self.api_used += 1
            return True

    def limit_info(self) -> str:
        return f"api-usage={self.api_used}/{self.options.daily_api_limit}"
