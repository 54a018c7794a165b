"""Compiling SOQL ``WHERE`` conditions into predicates, with Salesforce's comparison semantics.

String comparisons are case-insensitive, ids compare on their 15-character case-sensitive form,
``!= value`` matches nulls while ordering comparisons never do, date fields take only date literals and
datetime fields only datetime literals, and relative literals (``LAST_N_DAYS:n`` = from 00:00 UTC n days
ago up to the end of today) are measured from the world's simulated present.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from feedbackloop.sandbox.salesforce.ids import is_salesforce_id
from feedbackloop.sandbox.salesforce.schema import (
    ID_TYPES,
    NUMERIC_TYPES,
    TEXT_TYPES,
    FieldDef,
    ObjectDef,
)
from feedbackloop.sandbox.salesforce.soql import BoolOp, Condition, Literal, Not, SoqlError
from feedbackloop.sandbox.salesforce.soql_paths import Record, Tables, resolve

__all__ = ["Predicate", "compile_condition", "normal"]

Predicate = Callable[[Record], bool]


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


def normal(type_: str) -> Callable[[Any], Any]:
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


def compile_condition(tables: Tables, obj: ObjectDef, cond: Condition) -> Predicate:
    if isinstance(cond, BoolOp):
        items = [compile_condition(tables, obj, c) for c in cond.items]
        if cond.op == "AND":
            return lambda r: all(p(r) for p in items)
        return lambda r: any(p(r) for p in items)
    if isinstance(cond, Not):
        inner = compile_condition(tables, obj, cond.item)
        return lambda r: not inner(r)
    path = resolve(tables, obj, cond.path)
    get, field, norm = path.getter, path.field, normal(path.field.type)
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
