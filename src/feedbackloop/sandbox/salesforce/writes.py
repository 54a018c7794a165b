"""Record writes with Salesforce's per-record validation: sObject Collections update and upsert, single
records, and the rows of Bulk API 2.0 jobs share these rules and error codes."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from feedbackloop.sandbox.salesforce.ids import is_salesforce_id
from feedbackloop.sandbox.salesforce.org import OrgData
from feedbackloop.sandbox.salesforce.schema import ID_TYPES, NUMERIC_TYPES, TEXT_TYPES, FieldDef, ObjectDef

__all__ = [
    "RecordError",
    "Save",
    "apply_saves",
    "coerce",
    "prepare_insert",
    "prepare_update",
    "prepare_upsert",
]


class RecordError(Exception):
    """One record's failure: ``status_code`` as in a SaveResult's ``errors[].statusCode``."""

    def __init__(self, status_code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status_code, self.message, self.fields = status_code, message, fields or []

    def as_json(self) -> dict[str, Any]:
        return {"statusCode": self.status_code, "message": self.message, "fields": self.fields}


_INSERTS = itertools.count()
_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$")


def coerce(field: FieldDef, value: Any, *, from_csv: bool = False) -> Any:
    """``value`` as stored for ``field``; CSV cells are strings ("" = unchanged is handled by the caller)."""
    bad = RecordError(
        "INVALID_TYPE_ON_FIELD_IN_RECORD", f"{field.name}: value not of required type: {value}", [field.name]
    )
    if value is None or (from_csv and value == "#N/A"):
        return None
    type_ = field.type
    if type_ in TEXT_TYPES:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise bad
        text = str(value)
        if field.length and len(text) > field.length:
            raise RecordError(
                "STRING_TOO_LONG",
                f"{field.name}: data value too large: {text[:40]} (max length={field.length})",
                [field.name],
            )
        return text
    if type_ in ID_TYPES:
        if not isinstance(value, str) or not is_salesforce_id(value):
            raise RecordError(
                "MALFORMED_ID", f"{field.name}: id value of incorrect type: {value}", [field.name]
            )
        return value
    if type_ == "boolean":
        if isinstance(value, bool):
            return value
        if from_csv and str(value).lower() in {"true", "false", "1", "0"}:
            return str(value).lower() in {"true", "1"}
        raise bad
    if type_ in NUMERIC_TYPES:
        if isinstance(value, bool):
            raise bad
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise bad from None
        if type_ == "int":
            if number != int(number):
                raise bad
            return int(number)
        return number
    if type_ == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            raise bad from None
    if type_ == "datetime" and isinstance(value, str) and (match := _DATETIME.match(value)):
        day, clock, fraction, zone = match.groups()
        zone = "+00:00" if zone in (None, "Z") else zone[:3] + ":" + zone[-2:]
        return datetime.fromisoformat(f"{day}T{clock}{fraction or ''}{zone}").astimezone(UTC)
    raise bad


@dataclass
class Save:
    """A validated write waiting to be applied: an update of ``record_id`` or an insert (id None)."""

    object: str
    values: dict[str, Any]
    record_id: str | None = None
    created: bool = False


def _values(obj: ObjectDef, record: dict[str, Any], *, creating: bool, from_csv: bool) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, raw in record.items():
        if key in {"attributes", "Id", "id"} or (from_csv and raw == ""):
            continue
        field = obj.field(key)
        if field is None:
            raise RecordError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key])
        if not (field.createable if creating else field.updateable):
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {field.name}. Please check the security settings of this "
                "field and verify that it is read/write for your profile or permission set.",
                [field.name],
            )
        values[field.name] = coerce(field, raw, from_csv=from_csv)
    if creating:
        missing = [
            f.name
            for f in obj.fields.values()
            if f.createable
            and not f.nillable
            and f.type != "boolean"
            and f.name != "Name"
            and values.get(f.name) is None
        ]
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: {missing}", missing)
    return values


def _check_unique(
    org: OrgData,
    obj: ObjectDef,
    values: dict[str, Any],
    record_id: str | None,
    batch: dict[tuple[str, str], str | None],
) -> None:
    me = record_id if record_id is not None else f"new:{next(_INSERTS)}"  # two inserts never share an owner
    for name, value in values.items():
        field = obj.fields[name]
        if not field.unique or value is None:
            continue
        key = (name, value if field.case_sensitive else str(value).lower())
        holders = [r["Id"] for r in _find(org, obj, field, value)]
        if any(h != record_id for h in holders) or batch.get(key, me) != me:
            raise RecordError(
                "DUPLICATE_VALUE",
                f"duplicate value found: {name} duplicates value on record "
                f"with id: {holders[0] if holders else 'in this request'}",
                [name],
            )
        batch[key] = me


def _find(org: OrgData, obj: ObjectDef, field: FieldDef, value: Any) -> list[dict[str, Any]]:
    if field.case_sensitive or not isinstance(value, str):
        return [r for r in org.rows(obj.name) if r.get(field.name) == value]
    lowered = value.lower()
    return [
        r
        for r in org.rows(obj.name)
        if isinstance(r.get(field.name), str) and r[field.name].lower() == lowered
    ]


def _writable(org: OrgData, name: str | None) -> ObjectDef:
    obj = org.schema.get(name or "")
    if obj is None:
        raise RecordError("INVALID_TYPE", f"sObject type '{name}' is not supported.")
    if not obj.updateable:
        raise RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support update")
    return obj


def prepare_update(
    org: OrgData,
    object_name: str | None,
    record: dict[str, Any],
    *,
    from_csv: bool = False,
    batch: dict[tuple[str, str], str | None] | None = None,
) -> Save:
    """Validate an update of the record whose ``id``/``Id`` is given (no write yet)."""
    obj = _writable(org, object_name)
    record_id = record.get("id") or record.get("Id")
    if not isinstance(record_id, str) or not is_salesforce_id(record_id):
        raise RecordError("MALFORMED_ID", f"malformed id {record_id}", ["Id"])
    existing = org.by_id(obj.name, record_id)
    if existing is None:
        raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
    values = _values(obj, record, creating=False, from_csv=from_csv)
    _check_unique(org, obj, values, existing["Id"], {} if batch is None else batch)
    return Save(obj.name, values, existing["Id"])


def prepare_insert(
    org: OrgData,
    object_name: str | None,
    record: dict[str, Any],
    *,
    from_csv: bool = False,
    batch: dict[tuple[str, str], str | None] | None = None,
) -> Save:
    """Validate an insert (no ``Id`` allowed; required fields checked)."""
    obj = _writable(org, object_name)
    if record.get("id") or record.get("Id"):
        raise RecordError("INVALID_FIELD", "cannot specify Id in an insert call", ["Id"])
    if not obj.createable:
        raise RecordError("INVALID_TYPE_FOR_OPERATION", f"entity type {obj.name} does not support insert")
    values = _values(obj, record, creating=True, from_csv=from_csv)
    _check_unique(org, obj, values, None, {} if batch is None else batch)
    return Save(obj.name, values, None, created=True)


def prepare_upsert(
    org: OrgData,
    object_name: str,
    ext_field: str,
    record: dict[str, Any],
    *,
    from_csv: bool = False,
    batch: dict[tuple[str, str], str | None] | None = None,
) -> Save:
    """Validate an upsert matched on the external id ``ext_field`` (insert when nothing matches)."""
    obj = _writable(org, object_name)
    field = obj.field(ext_field)
    if field is None or not (field.external_id or field.name == "Id"):
        raise RecordError(
            "INVALID_FIELD", f"Field name provided, {ext_field} is not an External ID or indexed field"
        )
    raw = next((v for k, v in record.items() if k.lower() == field.name.lower()), None)
    if raw in (None, ""):
        raise RecordError("MISSING_ARGUMENT", f"{field.name} not specified", [field.name])
    matches = _find(org, obj, field, coerce(field, raw, from_csv=from_csv))
    if len(matches) > 1:
        raise RecordError(
            "DUPLICATE_EXTERNAL_ID",
            f"{field.name}: more than one record found for external id field: {[m['Id'] for m in matches]}",
            [field.name],
        )
    creating = not matches
    values = _values(obj, record, creating=creating, from_csv=from_csv)
    record_id = None if creating else matches[0]["Id"]
    _check_unique(org, obj, values, record_id, {} if batch is None else batch)
    return Save(obj.name, values, record_id, created=creating)


def apply_saves(org: OrgData, saves: list[Save]) -> list[str]:
    """Write validated saves (with ``org.lock`` held by the caller); returns the record ids."""
    ids = []
    for save in saves:
        if save.created:
            save.record_id = org.insert(save.object, save.values)
        else:
            assert save.record_id is not None
            org.write(save.object, save.record_id, save.values)
        ids.append(save.record_id)
    return ids
