"""Evaluating a parsed SOQL query over in-memory records, with Salesforce's comparison semantics.

String comparisons are case-insensitive, ids compare on their 15-character case-sensitive form,
``!= value`` matches nulls while ordering comparisons never do, date fields take only date literals and
datetime fields only datetime literals, and relative literals (``LAST_N_DAYS:n`` = from 00:00 UTC n days
ago up to the end of today) are measured from the world's simulated present.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol

from feedbackloop.sandbox.salesforce.ids import is_salesforce_id
from feedbackloop.sandbox.salesforce.schema import (
    ID_TYPES,
    NUMERIC_TYPES,
    TEXT_TYPES,
    FieldDef,
    ObjectDef,
    Schema,
)
from feedbackloop.sandbox.salesforce.soql import BoolOp, Condition, Literal, Not, Query, SoqlError

__all__ = ["Record", "ResultSet", "Tables", "evaluate", "json_value"]

Record = dict[str, Any]
Getter = Callable[[Record], Any]
Predicate = Callable[[Record], bool]


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
class _Path:
    """A resolved field path: getter, the final field and the canonical names for the output."""

    getter: Getter
    field: FieldDef
    names: tuple[str, ...]
    objects: tuple[str, ...]  # object type at each relationship step (for attributes)


def _resolve(tables: Tables, obj: ObjectDef, path: tuple[str, ...]) -> _Path:
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

    return _Path(getter, final, tuple(names), tuple(objects))


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


def _relative_range(name: str, n: int | None, now: datetime) -> tuple[datetime, datetime]:
    today = datetime.combine(now.astimezone(UTC).date(), time(), tzinfo=UTC)
    day = timedelta(days=1)
    month_start = today.replace(day=1)
    year_start = today.replace(month=1, day=1)
    prev_month = (month_start - day).replace(day=1)
    next_month = (month_start + 32 * day).replace(day=1)
    simple = {
        "TODAY": (today, today + day),
        "YESTERDAY": (today - day, today),
        "TOMORROW": (today + day, today + 2 * day),
        "THIS_MONTH": (month_start, next_month),
        "LAST_MONTH": (prev_month, month_start),
        "THIS_YEAR": (year_start, year_start.replace(year=year_start.year + 1)),
        "LAST_YEAR": (year_start.replace(year=year_start.year - 1), year_start),
    }
    if n is None and name in simple:
        return simple[name]
    if n is not None and n >= 0:
        if name == "LAST_N_DAYS":
            return today - n * day, today + day
        if name == "NEXT_N_DAYS":
            return today + day, today + (n + 1) * day
        if name == "N_DAYS_AGO":
            return today - n * day, today - (n - 1) * day
    raise SoqlError(f"unexpected token: '{name}{'' if n is None else f':{n}'}'")


def _operand(field: FieldDef, literal: Literal, now: datetime) -> Any:
    """The literal converted for comparison with values of ``field``, or a SoqlError for a type mismatch."""
    kind, value, type_ = literal.kind, literal.value, field.type
    if kind == "null":
        return None
    quoted = type_ in TEXT_TYPES | ID_TYPES
    wrong = SoqlError(
        f"value of filter criterion for field '{field.name}' must be of type {type_}"
        + (" and should be enclosed in quotes" if quoted else " and should not be enclosed in quotes"),
        "INVALID_QUERY_FILTER_OPERATOR",
    )
    if type_ in ID_TYPES:
        if kind != "string":
            raise wrong
        if not is_salesforce_id(value):
            raise SoqlError(f"invalid ID field: {value}", "INVALID_QUERY_FILTER_OPERATOR")
        return value[:15]
    if type_ in TEXT_TYPES:
        if kind != "string":
            raise wrong
        return value.casefold()
    if type_ == "boolean" and kind == "boolean":
        return value
    if type_ in NUMERIC_TYPES and kind == "number":
        return value
    if type_ in {"date", "datetime"} and kind == "relative":
        start, end = _relative_range(value[0], value[1], now)
        return (start.date(), end.date()) if type_ == "date" else (start, end)
    if (type_, kind) in {("date", "date"), ("datetime", "datetime")}:
        return value
    raise wrong


def _normal(type_: str) -> Callable[[Any], Any]:
    if type_ in ID_TYPES:
        return lambda v: None if v is None else v[:15]
    if type_ in TEXT_TYPES:
        return lambda v: None if v is None else str(v).casefold()
    return lambda v: v


def _like(pattern: str) -> re.Pattern[str]:
    parts = re.split(r"(\\.|%|_)", pattern)
    regex = "".join(
        ".*" if p == "%" else "." if p == "_" else re.escape(p[1:] if p.startswith("\\") else p)
        for p in parts
    )
    return re.compile(f"^{regex}$", re.IGNORECASE | re.DOTALL)


_ORDERING = {"<", "<=", ">", ">="}


def _compile(tables: Tables, obj: ObjectDef, cond: Condition) -> Predicate:
    if isinstance(cond, BoolOp):
        items = [_compile(tables, obj, c) for c in cond.items]
        if cond.op == "AND":
            return lambda r: all(p(r) for p in items)
        return lambda r: any(p(r) for p in items)
    if isinstance(cond, Not):
        inner = _compile(tables, obj, cond.item)
        return lambda r: not inner(r)
    path = _resolve(tables, obj, cond.path)
    get, field, norm = path.getter, path.field, _normal(path.field.type)
    if cond.op == "LIKE":
        if field.type not in TEXT_TYPES or not isinstance(cond.value, Literal):
            raise SoqlError(
                f"invalid operator on {field.type} field '{field.name}'", "INVALID_QUERY_FILTER_OPERATOR"
            )
        regex = _like(cond.value.value)
        return lambda r: (v := get(r)) is not None and regex.match(str(v)) is not None
    if cond.op in {"IN", "NOT_IN"}:
        assert isinstance(cond.value, tuple)
        members = {_operand(field, lit, tables.now) for lit in cond.value}
        if any(isinstance(m, tuple) for m in members):
            raise SoqlError("relative date literals are not supported in IN lists")
        negate = cond.op == "NOT_IN"
        return lambda r: (norm(get(r)) in members) != negate
    assert isinstance(cond.value, Literal)
    operand = _operand(field, cond.value, tables.now)
    op = cond.op
    if operand is None:
        if op not in {"=", "!="}:
            raise SoqlError("null can only be compared with = or !=", "INVALID_QUERY_FILTER_OPERATOR")
        return (lambda r: get(r) is None) if op == "=" else (lambda r: get(r) is not None)
    if field.type == "boolean" and op in _ORDERING:
        raise SoqlError(f"invalid operator on boolean field '{field.name}'", "INVALID_QUERY_FILTER_OPERATOR")
    if isinstance(operand, tuple):  # a relative date range [start, end)
        start, end = operand
        tests: dict[str, Callable[[Any], bool]] = {
            "=": lambda v: start <= v < end,
            "!=": lambda v: not start <= v < end,
            "<": lambda v: v < start,
            "<=": lambda v: v < end,
            ">": lambda v: v >= end,
            ">=": lambda v: v >= start,
        }
    else:
        tests = {
            "=": lambda v: v == operand,
            "!=": lambda v: v != operand,
            "<": lambda v: v < operand,
            "<=": lambda v: v <= operand,
            ">": lambda v: v > operand,
            ">=": lambda v: v >= operand,
        }
    test = tests[op]
    if op == "!=":
        return lambda r: (v := norm(get(r))) is None or test(v)
    return lambda r: (v := norm(get(r))) is not None and test(v)


def _sort(records: list[Record], tables: Tables, obj: ObjectDef, query: Query) -> list[Record]:
    for item in reversed(query.order):
        path = _resolve(tables, obj, item.path)
        get, norm = path.getter, _normal(path.field.type)
        nulls_first = not item.nulls_last
        null_rank = (1 if nulls_first else -1) if item.descending else (-1 if nulls_first else 1)

        def key(
            record: Record, get: Getter = get, norm: Callable[[Any], Any] = norm, rank: int = null_rank
        ) -> Any:
            value = norm(get(record))
            return (rank, 0) if value is None else (0, value)

        records = sorted(records, key=key, reverse=item.descending)
    return records


@dataclass
class ResultSet:
    """The matching records of a query and how to render any slice of them as REST JSON."""

    object: str
    records: list[Record]
    render: Callable[[Iterable[Record]], list[dict[str, Any]]]
    count_only: bool = False


def _select(tables: Tables, obj: ObjectDef, query: Query, include_deleted: bool) -> list[Record]:
    predicate = _compile(tables, obj, query.where) if query.where is not None else None
    rows: Iterable[Record] = tables.rows(obj.name)
    if not include_deleted:
        rows = (r for r in rows if not r.get("IsDeleted"))
    selected = [r for r in rows if predicate(r)] if predicate else list(rows)
    if query.order:
        selected = _sort(selected, tables, obj, query)
    start = query.offset or 0
    if start > 2000:
        raise SoqlError("Maximum SOQL offset allowed is 2000", "NUMBER_OUTSIDE_VALID_RANGE")
    end = None if query.limit is None else start + query.limit
    return selected[start:end]


def _renderer(
    tables: Tables, obj: ObjectDef, query: Query, version: str, include_deleted: bool
) -> Callable[[Iterable[Record]], list[dict[str, Any]]]:
    paths = [_resolve(tables, obj, p) for p in query.fields]
    subs = []
    for sub in query.subqueries:
        match = next(
            (
                (child, f)
                for child, f in tables.schema.children(obj.name)
                if f.child_relationship and f.child_relationship.lower() == sub.object.lower()
            ),
            None,
        )
        if match is None:
            raise SoqlError(
                f"Didn't understand relationship '{sub.object}' in FROM part of query call.", "INVALID_TYPE"
            )
        child = tables.schema.objects[match[0]]
        subs.append((match[1], child, sub, _renderer(tables, child, sub, version, include_deleted)))
    child_index: dict[str, dict[str, list[Record]]] = {}

    def children_of(child: str, ref_field: str, parent_id: str) -> list[Record]:
        if child not in child_index:
            index: dict[str, list[Record]] = {}
            for row in tables.rows(child):
                if row.get(ref_field) is not None:
                    index.setdefault(row[ref_field], []).append(row)
            child_index[child] = index
        return child_index[child].get(parent_id, [])

    def attributes(type_name: str, record: Record) -> dict[str, str]:
        return {"type": type_name, "url": f"/services/data/v{version}/sobjects/{type_name}/{record['Id']}"}

    def render_one(record: Record) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": attributes(obj.name, record)}
        for path in paths:
            node, parent = out, record
            for depth, name in enumerate(path.names[:-1]):
                ref = tables.schema.objects[path.objects[depth - 1]] if depth else obj
                parent_record = _resolve_parent(tables, ref, name, parent)
                if parent_record is None:
                    node[name] = None
                    break
                if not isinstance(node.get(name), dict):
                    node[name] = {"attributes": attributes(path.objects[depth], parent_record)}
                node, parent = node[name], parent_record
            else:
                node[path.names[-1]] = json_value(path.field.type, path.getter(record))
        for ref_field, child, sub, render_child in subs:
            rows = children_of(child.name, ref_field.name, record["Id"])
            matched = _select(_Only(tables, child.name, rows), child, sub, include_deleted)
            out[ref_field.child_relationship or sub.object] = (
                {"totalSize": len(matched), "done": True, "records": render_child(matched)}
                if matched
                else None
            )
        return out

    return lambda records: [render_one(r) for r in records]


def _resolve_parent(tables: Tables, obj: ObjectDef, relationship: str, record: Record) -> Record | None:
    ref = obj.relationship(relationship)
    if ref is None or record.get(ref.name) is None:
        return None
    return next((p for t in ref.reference_to if (p := tables.by_id(t, record[ref.name])) is not None), None)


class _Only:
    """A view of ``tables`` in which ``object_name`` has only ``rows`` (the children of one parent)."""

    def __init__(self, tables: Tables, object_name: str, rows: list[Record]) -> None:
        self.schema, self.now, self._tables = tables.schema, tables.now, tables
        self._name, self._rows = object_name, rows

    def rows(self, object_name: str) -> Sequence[Record]:
        return self._rows if object_name == self._name else self._tables.rows(object_name)

    def by_id(self, object_name: str, record_id: str) -> Record | None:
        return self._tables.by_id(object_name, record_id)


def evaluate(query: Query, tables: Tables, version: str, *, include_deleted: bool = False) -> ResultSet:
    """Run ``query``; the result keeps raw records and renders pages on demand."""
    obj = tables.schema.get(query.object)
    if obj is None:
        raise SoqlError(f"sObject type '{query.object}' is not supported.", "INVALID_TYPE")
    render = _renderer(tables, obj, query, version, include_deleted)
    records = _select(tables, obj, query, include_deleted)
    return ResultSet(obj.name, records, render, count_only=query.count)
