"""Vectorised validation of one import file: typed columns out, and every invalid value located.

Each check is a boolean mask over the rows (numpy/pandas, no per-row Python objects on valid data);
only the rows that fail get a message built for them. Values are stripped of surrounding spaces
and tabs (except template subjects and bodies), and naive timestamps are read as UTC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from feedbackloop.connectors.csvread import RawTable
from feedbackloop.connectors.csvschema import (
    BOOLEAN_FALSE,
    BOOLEAN_TRUE,
    CLOSED,
    OUTCOMES,
    Column,
    FileSpec,
)
from feedbackloop.errors import InputError

__all__ = ["CheckedTable", "Issue", "check_table", "show"]

Mask = npt.NDArray[np.bool_]
_KEEP_SPACES = frozenset({"subject", "body"})
_SPACES = " \t"


def show(value: object, width: int = 40) -> str:
    """A value quoted for an error message, shortened when long."""
    text = str(value)
    return repr(text if len(text) <= width else text[: width - 1] + "…")


@dataclass
class Issue:
    """Invalid values of one field: the row positions and one reason each (or one for all)."""

    rows: npt.NDArray[np.int64]
    field: str
    reasons: str | list[str]


@dataclass
class CheckedTable:
    """A file after validation: typed columns (all rows), the invalid rows and why."""

    raw: RawTable
    spec: FileSpec
    values: dict[str, Any]
    issues: list[Issue] = field(default_factory=list)
    given: dict[str, Mask] = field(default_factory=dict)  # per column: the cell is not empty

    @property
    def size(self) -> int:
        return len(self.raw)

    def add(self, mask: Mask, field_name: str, reasons: str | Sequence[str] | None = None) -> None:
        """Record the rows of ``mask`` as invalid in ``field_name``."""
        rows = np.flatnonzero(mask)
        if rows.size:
            why: str | list[str] = (
                reasons if isinstance(reasons, str) else list(reasons or ["invalid"] * rows.size)
            )
            self.issues.append(Issue(rows.astype(np.int64), field_name, why))

    @property
    def bad(self) -> Mask:
        """True for every row with at least one invalid value."""
        mask = np.zeros(self.size, dtype=bool)
        for issue in self.issues:
            mask[issue.rows] = True
        return mask


def check_table(raw: RawTable, spec: FileSpec) -> CheckedTable:
    """Validate ``raw`` against ``spec``; a missing required column is an error for the whole file."""
    missing = [name for name in spec.required if name not in raw.columns]
    if missing:
        found = ", ".join(raw.columns) or "none"
        everything = raw.columns + raw.extra_columns
        hint = (
            "; columns must be separated by commas"
            if len(everything) == 1 and any(sep in everything[0] for sep in ";\t|")
            else ""
        )
        raise InputError(
            f"{raw.name}:1: missing required column(s): {', '.join(missing)} "
            f"(known columns found: {found}{hint})"
        )
    checked = CheckedTable(raw, spec, {})
    for row, reason in raw.parse_errors:
        checked.add(_at(checked.size, [row]), "(row)", reason)
    for column in spec.columns:
        if column.name in raw.columns:
            _check_column(checked, column, raw.frame[column.name])
    _check_duplicates(checked, spec.key)
    if spec.role == "deals":
        _check_closed(checked)
    return checked


def _at(size: int, rows: Sequence[int]) -> Mask:
    mask = np.zeros(size, dtype=bool)
    mask[list(rows)] = True
    return mask


def _check_column(checked: CheckedTable, column: Column, series: pd.Series) -> None:
    name = column.name
    text = series if name in _KEEP_SPACES or not checked.raw.padded else series.str.strip(_SPACES)
    empty = (text == "").to_numpy(dtype=bool)
    if column.required:
        checked.add(empty, name, "required")
    if column.max_length is not None:
        long = (text.str.len() > column.max_length).to_numpy(dtype=bool)
        checked.add(long, name, f"longer than {column.max_length} characters")
    given = ~empty
    checked.given[name] = given
    kind = column.kind
    if kind in ("id", "text"):
        checked.values[name] = text.to_numpy(dtype=object)
    elif kind == "outcome":
        lower = text.str.lower()
        bad = given & ~lower.isin(OUTCOMES).to_numpy(dtype=bool)
        wanted = ", ".join(OUTCOMES)
        checked.add(bad, name, [f"{show(v)} is not one of {wanted}" for v in text[bad]])
        checked.values[name] = lower.to_numpy(dtype=object)
    elif kind == "timestamp":
        stamps = pd.to_datetime(text, format="ISO8601", utc=True, errors="coerce")
        bad = given & stamps.isna().to_numpy(dtype=bool)
        checked.add(bad, name, [f"{show(v)} is not an ISO 8601 timestamp" for v in text[bad]])
        checked.values[name] = stamps
    elif kind == "boolean":
        lower = text.str.lower()
        true = lower.isin(BOOLEAN_TRUE).to_numpy(dtype=bool)
        false = lower.isin(BOOLEAN_FALSE).to_numpy(dtype=bool)
        bad = given & ~true & ~false
        checked.add(bad, name, [f"{show(v)} is not a boolean (0, 1, true or false)" for v in text[bad]])
        checked.values[name] = np.where(true, 1, np.where(false, 0, -1)).astype(np.int8)
    else:
        _check_number(checked, column, text, given)


def _check_number(checked: CheckedTable, column: Column, text: pd.Series, given: Mask) -> None:
    name = column.name
    numbers = pd.to_numeric(text.where(given, None), errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(numbers)
    with np.errstate(invalid="ignore"):
        if column.kind == "amount":
            ok, what = finite & (numbers >= 0), "is not a number ≥ 0"
        elif column.kind == "sentiment":
            ok, what = finite & (numbers >= -1) & (numbers <= 1), "is not a number between -1 and 1"
        else:  # position: a 1-based step number
            whole = finite & (np.floor(numbers) == numbers)
            ok, what = whole & (numbers >= 1) & (numbers < 2**31), "is not a whole number ≥ 1"
    bad = given & ~ok
    checked.add(bad, name, [f"{show(v)} {what}" for v in text[bad]])
    checked.values[name] = np.where(ok, numbers, np.nan)


def _check_duplicates(checked: CheckedTable, key: str) -> None:
    ids = pd.Series(checked.values[key])
    dup = (ids.duplicated(keep=False) & (ids != "")).to_numpy(dtype=bool)
    if not dup.any():
        return
    lines = checked.raw.lines
    rows = np.flatnonzero(dup)
    dup_ids: list[str] = ids.to_numpy(dtype=object)[rows].tolist()
    where: dict[str, list[int]] = {}
    for deal_id, line in zip(dup_ids, lines[rows].tolist(), strict=True):
        where.setdefault(deal_id, []).append(line)
    reasons = []
    for deal_id in dup_ids:
        seen = where[deal_id]
        listed = ", ".join(map(str, seen[:5])) + (", …" if len(seen) > 5 else "")
        reasons.append(f"duplicate id {show(deal_id)} (on lines {listed})")
    checked.add(dup, key, reasons)


def _check_closed(checked: CheckedTable) -> None:
    outcome = checked.values.get("outcome")
    if outcome is None:
        return
    closed = pd.Series(outcome).isin(CLOSED).to_numpy(dtype=bool)
    stamps = checked.values.get("closed_at")
    no_close = np.ones(checked.size, dtype=bool) if stamps is None else stamps.isna().to_numpy(dtype=bool)
    if "closed_at" in checked.given:
        no_close = no_close & ~checked.given["closed_at"]  # an unparseable one is reported as such
    bad = closed & no_close
    checked.add(bad, "closed_at", [f"required when outcome is {o}" for o in outcome[bad]])
