"""Evaluating a parsed SOQL query over in-memory records: selection (with an index for ``Id`` filters),
ordering with Salesforce's null placement, ``LIMIT``/``OFFSET``, and rendering with parent and child
relationships. Conditions are compiled in :mod:`.soql_filters`, field paths resolved in :mod:`.soql_paths`."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from feedbackloop.sandbox.salesforce.schema import ObjectDef
from feedbackloop.sandbox.salesforce.soql import Compare, Condition, Literal, Query, SoqlError
from feedbackloop.sandbox.salesforce.soql_filters import compile_condition, normal
from feedbackloop.sandbox.salesforce.soql_paths import Getter, Record, Tables, json_value, resolve

__all__ = ["Record", "ResultSet", "Tables", "evaluate", "json_value"]


def _sort(records: list[Record], tables: Tables, obj: ObjectDef, query: Query) -> list[Record]:
    for item in reversed(query.order):
        path = resolve(tables, obj, item.path)
        get, norm = path.getter, normal(path.field.type)
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


def _by_ids(tables: Tables, obj: ObjectDef, where: Condition | None) -> list[Record] | None:
    """Candidate rows for ``Id = '…'`` / ``Id IN (…)`` filters (the predicate still runs on them)."""
    if not isinstance(where, Compare) or len(where.path) != 1 or where.path[0].lower() != "id":
        return None
    if where.op == "=" and isinstance(where.value, Literal) and where.value.kind == "string":
        literals: tuple[Literal, ...] = (where.value,)
    elif where.op == "IN" and isinstance(where.value, tuple):
        literals = where.value
    else:
        return None
    found = [tables.by_id(obj.name, lit.value) for lit in literals if lit.kind == "string" and lit.value]
    unique = {id(r): r for r in found if r is not None}
    return list(unique.values())


def _select(tables: Tables, obj: ObjectDef, query: Query, include_deleted: bool) -> list[Record]:
    predicate = compile_condition(tables, obj, query.where) if query.where is not None else None
    candidates = _by_ids(tables, obj, query.where)
    rows: Iterable[Record] = tables.rows(obj.name) if candidates is None else candidates
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
    paths = [resolve(tables, obj, p) for p in query.fields]
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
