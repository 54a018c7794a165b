"""Resolving SOQL field paths (``Account.Industry``) to getters over records, and rendering values."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from feedbackloop.sandbox.salesforce.schema import (
    NUMERIC_TYPES,
    FieldDef,
    ObjectDef,
    Schema,
)
from feedbackloop.sandbox.salesforce.soql import SoqlError

__all__ = ["Getter", "Path", "Record", "Tables", "json_value", "resolve"]

Record = dict[str, Any]
Getter = Callable[[Record], Any]


class Tables(Protocol):
    """What the evaluator reads: the schema, the simulated present and records by object and id."""

    schema: Schema

    @property
    def now(self) -> datetime: ...

    def rows(self, object_name: str) -> Sequence[Record]: ...

    def by_id(self, object_name: str, record_id: str) -> Record | None: ...


def json_value(type_: str, value: Any) -> Any:
    """A stored value as the REST API renders it (datetimes as ``2026-01-01T00:00:00.000+0000``)."""
    if value is None:
        return None
    if type_ == "datetime":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if type_ == "date":
        return value.isoformat()
    if type_ == "int":
        return int(value)
    if type_ in NUMERIC_TYPES:
        return float(value)
    return value


@dataclass
class Path:
    """A resolved field path: getter, the final field and the canonical names for the output."""

    getter: Getter
    field: FieldDef
    names: tuple[str, ...]
    objects: tuple[str, ...]  # object type at each relationship step (for attributes)


def resolve(tables: Tables, obj: ObjectDef, path: tuple[str, ...]) -> Path:
    schema = tables.schema
    if len(path) > 1 and path[0].lower() == obj.name.lower():
        path = path[1:]  # "Opportunity.Name" FROM Opportunity
    getters: list[Callable[[Record], Record | None]] = []
    names: list[str] = []
    objects: list[str] = []
    current = obj
    for step in path[:-1]:
        ref = current.relationship(step)
        if ref is None:
            raise SoqlError(
                f"Didn't understand relationship '{step}' in field path. If you are attempting to use a "
                f"custom relationship, be sure to append the '__r' after the custom relationship name.",
                "INVALID_FIELD",
            )
        targets = [t for t in (schema.get(n) for n in ref.reference_to) if t is not None]
        getters.append(_parent_getter(tables, ref.name, [t.name for t in targets]))
        names.append(ref.relationship_name or step)
        last = path[-1] if step is path[-2] else None
        current = next((t for t in targets if last is None or t.field(last)), targets[0])
        objects.append(current.name)
    final = current.field(path[-1])
    if final is None:
        raise SoqlError(f"No such column '{path[-1]}' on entity '{current.name}'.", "INVALID_FIELD")
    names.append(final.name)
    name = final.name

    def getter(record: Record) -> Any:
        node: Record | None = record
        for step_getter in getters:
            if node is None:
                return None
            node = step_getter(node)
        return None if node is None else node.get(name)

    return Path(getter, final, tuple(names), tuple(objects))


def _parent_getter(tables: Tables, field_name: str, targets: list[str]) -> Callable[[Record], Record | None]:
    def parent(record: Record) -> Record | None:
        value = record.get(field_name)
        if value is None:
            return None
        for target in targets:
            found = tables.by_id(target, value)
            if found is not None:
                return found
        return None

    return parent
