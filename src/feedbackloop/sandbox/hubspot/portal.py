"""The emulated portal's state: the world's records plus everything written through the API.

Writes (property values, created properties and groups, custom objects) live in overlays that survive a
rebuild after the world advances; ``reset`` drops them together with the world's progress.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from feedbackloop.sandbox.hubspot.build import BuiltPortal, build_portal
from feedbackloop.sandbox.hubspot.options import HubSpotOptions
from feedbackloop.sandbox.hubspot.properties import (
    PropertyDef,
    PropertyRegistry,
    default_registry,
    normalise_value,
    value_error,
)
from feedbackloop.sandbox.hubspot.records import OBJECT_TYPE_IDS, IdMap, ObjectTable, Record
from feedbackloop.sandbox.hubspot.wire import HubSpotError, iso_from_ms

__all__ = ["CREATED_PROPERTY", "MODIFIED_PROPERTY", "CustomSchema", "Portal", "WriteProblem"]

_ALIASES = {
    **{k: k for k in OBJECT_TYPE_IDS},
    **{v: k for k, v in OBJECT_TYPE_IDS.items()},
    "contact": "contacts",
    "company": "companies",
    "deal": "deals",
    "email": "emails",
}
MODIFIED_PROPERTY = {"contacts": "lastmodifieddate"}
CREATED_PROPERTY = {"emails": "hs_createdate"}


@dataclass
class CustomSchema:
    """A custom object type created through ``POST /crm-object-schemas/v3/schemas`` (Enterprise only)."""

    object_type_id: str
    name: str
    body: dict[str, Any]
    registry: PropertyRegistry
    table: ObjectTable = field(default_factory=ObjectTable)


@dataclass
class WriteProblem:
    """Why one input of a write failed: the error category, message and the properties concerned."""

    category: str
    message: str
    properties: list[str]
    code: str


class Portal:
    """Thread-safe state of one portal; every public method takes the shared world lock."""

    def __init__(self, world: Any, options: HubSpotOptions, lock: threading.RLock | None = None) -> None:
        self.world = world
        self.options = options
        self.lock = lock or threading.RLock()
        self.ids = IdMap()
        self._built: BuiltPortal | None = None
        self._built_for: Any = None
        self._anchor = time.monotonic()
        self._clear_writes()

    # -- state -----------------------------------------------------------------------------------
    def _clear_writes(self) -> None:
        self.overlay: dict[tuple[str, str], dict[str, str | None]] = {}
        self.written_at: dict[tuple[str, str], int] = {}
        self.created: dict[str, ObjectTable] = {}
        self.registries: dict[str, PropertyRegistry] = {}
        self.schemas: dict[str, CustomSchema] = {}
        self._next_id = 90_000_000_000

    def built(self) -> BuiltPortal:
        """The records of the world's current state, rebuilt when the world moved (here or elsewhere)."""
        if self._built is None or self._built_for != self.world.now:
            self._built = build_portal(self.world, self.ids)
            self._built_for = self.world.now
            self._anchor = time.monotonic()
            self._apply_overlay(self._built)
            if not self.registries:
                self._init_registries(self._built)
        return self._built

    def _init_registries(self, built: BuiltPortal) -> None:
        stages = [(s["id"], s["label"]) for s in built.stages]
        owners = [o["id"] for o in built.owners]
        currencies = sorted({*built.currencies, "USD", "EUR", "GBP"})
        for name in OBJECT_TYPE_IDS:
            self.registries[name] = default_registry(
                name,
                stages=stages,
                owners=owners,
                currencies=currencies,
                missing=self.options.missing_email_properties,
            )
            for prop in self.registries[name].props.values():
                prop.created_ms = built.start_ms

    def _apply_overlay(self, built: BuiltPortal) -> None:
        for (type_, rid), values in self.overlay.items():
            record = built.tables[type_].by_id.get(rid) if type_ in built.tables else None
            if record is not None:
                record.props.update(values)
                self._touch(type_, record, self.written_at[(type_, rid)])
        for type_, table in self.created.items():
            if type_ in built.tables:
                built.tables[type_].update(table.by_id)

    def now_ms(self) -> int:
        """The sandbox's present: the world's ``now`` plus the wall time elapsed since it last moved."""
        built = self.built()
        return built.now_ms + int((time.monotonic() - self._anchor) * 1000)

    def reset(self) -> None:
        with self.lock:
            self.world.reset()
            self._clear_writes()
            self._built = None
            self.built()

    # -- object types ----------------------------------------------------------------------------
    def resolve_type(self, name: str) -> str:
        """Canonical object type (``deals``… or a custom ``2-NNN``); 400/403 like HubSpot otherwise."""
        canonical = _ALIASES.get(name.lower())
        if canonical:
            return canonical
        for schema in self.schemas.values():
            fqn = f"p{self.options.hub_id}_{schema.name}"
            if name in (schema.object_type_id, schema.name, fqn):
                return schema.object_type_id
        if not self.options.enterprise and re.fullmatch(r"2-\d+|p\d+_\w+", name):
            raise self.enterprise_required()
        raise HubSpotError(400, f"Unable to infer object type from: {name}")

    def enterprise_required(self) -> HubSpotError:
        return HubSpotError(
            403,
            "This portal does not have access to custom objects: they require an Enterprise subscription.",
            "MISSING_SCOPES",
            errors=[
                {"message": "Custom objects require an Enterprise subscription", "code": "TIER_REQUIRED"}
            ],
        )

    def table(self, type_: str) -> ObjectTable:
        if type_ in self.schemas:
            return self.schemas[type_].table
        return self.built().tables[type_]

    def registry(self, type_: str) -> PropertyRegistry:
        self.built()
        if type_ in self.schemas:
            return self.schemas[type_].registry
        return self.registries[type_]

    def hidden_properties(self, type_: str) -> set[str]:
        return set(self.options.missing_email_properties) if type_ == "emails" else set()

    # -- reading ---------------------------------------------------------------------------------
    def render(
        self, type_: str, record: Record, properties: list[str] | None, with_history: list[str] | None = None
    ) -> dict[str, Any]:
        """A ``SimplePublicObject``: the asked properties (existing ones only), as strings or null.

        ``with_history`` adds ``propertiesWithHistory`` (newest first): the deal stage's real changes,
        otherwise the current value as of the record's last change.
        """
        known = self.registry(type_).props
        names = properties if properties is not None else list(record.props)
        body: dict[str, Any] = {
            "id": record.id,
            "properties": {n: record.props.get(n) for n in names if n in known},
            "createdAt": iso_from_ms(record.created),
            "updatedAt": iso_from_ms(record.updated),
            "archived": record.archived,
        }
        if with_history:
            history: dict[str, list[dict[str, Any]]] = {}
            for name in (n for n in with_history if n in known):
                changes = (record.history or {}).get(name)
                if not changes:
                    value = record.props.get(name)
                    changes = [(value, record.updated)] if value is not None else []
                history[name] = [
                    {"value": value or "", "timestamp": iso_from_ms(at), "sourceType": "CRM_UI"}
                    for value, at in reversed(changes)
                ]
            body["propertiesWithHistory"] = history
        return body

    def find(self, type_: str, value: str, id_property: str | None = None) -> Record | None:
        table = self.table(type_)
        if not id_property or id_property == "hs_object_id":
            return table.by_id.get(str(value))
        for record in table.by_id.values():
            if record.props.get(id_property) == str(value):
                return record
        return None

    # -- writing ---------------------------------------------------------------------------------
    def check_write(self, type_: str, properties: dict[str, Any]) -> WriteProblem | None:
        registry = self.registry(type_)
        for name, value in properties.items():
            prop = registry.get(name)
            if prop is None:
                return WriteProblem(
                    "VALIDATION_ERROR",
                    f'Property values were not valid: [{{"isValid":false,"message":"Property \\"{name}\\" '
                    f'does not exist","error":"PROPERTY_DOESNT_EXIST","name":"{name}"}}]',
                    [name],
                    "PROPERTY_DOESNT_EXIST",
                )
            problem = value_error(prop, value)
            if problem:
                code = "READ_ONLY_VALUE" if prop.read_only or prop.calculated else "INVALID_OPTION"
                if prop.type in ("number", "bool", "date", "datetime", "string"):
                    code = code if code == "READ_ONLY_VALUE" else f"INVALID_{prop.type.upper()}"
                return WriteProblem("VALIDATION_ERROR", problem, [name], code)
        return None

    def write(self, type_: str, record: Record, properties: dict[str, Any]) -> Record:
        """Store checked values; bumps ``updatedAt`` and the last-modified property like HubSpot."""
        registry = self.registry(type_)
        values = {n: normalise_value(registry.props[n], v) for n, v in properties.items()}
        record.props.update(values)
        if type_ == "deals" and "dealstage" in values:
            self._restage(record)
        now = self.now_ms()
        key = (type_, record.id)
        if type_ in self.schemas or record.id in self.created.get(type_, ObjectTable()).by_id:
            self._touch(type_, record, now)
            return record
        # Calculated stage flags follow a written stage; otherwise the world keeps them current.
        derived = self._derived(type_, record) if "dealstage" in values else {}
        self.overlay.setdefault(key, {}).update({**values, **derived})
        self.written_at[key] = now
        self._touch(type_, record, now)
        return record

    def _derived(self, type_: str, record: Record) -> dict[str, str | None]:
        if type_ != "deals":
            return {}
        names = ("hs_is_closed", "hs_is_closed_won", "hs_is_closed_lost", "hs_deal_stage_probability")
        return {n: record.props.get(n) for n in names}

    def _restage(self, record: Record) -> None:
        stage = {s["id"]: s for s in self.built().stages}.get(record.props.get("dealstage") or "")
        if stage is None:
            return
        closed = stage["metadata"]["isClosed"] == "true"
        probability = float(stage["metadata"]["probability"])
        record.props["hs_is_closed"] = "true" if closed else "false"
        record.props["hs_is_closed_won"] = "true" if closed and probability >= 1.0 else "false"
        record.props["hs_is_closed_lost"] = "true" if closed and probability <= 0.0 else "false"
        record.props["hs_deal_stage_probability"] = stage["metadata"]["probability"]

    def _touch(self, type_: str, record: Record, when: int) -> None:
        if when > record.updated:
            record.updated = when
            record.props[MODIFIED_PROPERTY.get(type_, "hs_lastmodifieddate")] = iso_from_ms(when)

    def create(self, type_: str, properties: dict[str, Any]) -> Record:
        registry = self.registry(type_)
        self._next_id += 1
        now = self.now_ms()
        rid = str(self._next_id)
        props: dict[str, str | None] = {
            n: normalise_value(registry.props[n], v) for n, v in properties.items()
        }
        props["hs_object_id"] = rid
        props[CREATED_PROPERTY.get(type_, "hs_createdate")] = iso_from_ms(now)
        props[MODIFIED_PROPERTY.get(type_, "hs_lastmodifieddate")] = iso_from_ms(now)
        record = Record(rid, now, now, props)
        if type_ in self.schemas:
            self.schemas[type_].table.add(record)
        else:
            self.created.setdefault(type_, ObjectTable()).add(record)
            self.built().tables[type_].add(record)
        return record

    def add_property(self, type_: str, prop: PropertyDef) -> None:
        prop.created_ms = self.now_ms()
        self.registry(type_).add(prop)
