"""Collecting the invalid values of an import: sorted row errors, and the ``--skip-invalid`` rejects CSV."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from feedbackloop.connectors.csvvalidate import CheckedTable
from feedbackloop.errors import InputError, RowError

__all__ = ["REJECT_COLUMNS", "error_frame", "row_errors", "write_rejects"]

#: The first columns of a rejects file; the rejected row's own values follow.
REJECT_COLUMNS = ("file", "line", "field", "reason")


def error_frame(tables: Sequence[CheckedTable]) -> pd.DataFrame:
    """Every invalid value as a row: file, line, field, reason, plus sort keys and the row position."""
    parts = []
    for order, table in enumerate(tables):
        field_order = {name: i for i, name in enumerate(table.spec.names)}
        for issue in table.issues:
            n = issue.rows.size
            reasons = [issue.reasons] * n if isinstance(issue.reasons, str) else issue.reasons
            parts.append(
                pd.DataFrame(
                    {
                        "file_order": order,
                        "row": issue.rows,
                        "line": table.raw.lines[issue.rows],
                        "field_order": field_order.get(issue.field, -1),
                        "file": table.raw.name,
                        "field": issue.field,
                        "reason": reasons,
                    }
                )
            )
    if not parts:
        return pd.DataFrame(columns=["file_order", "row", "line", "field_order", *REJECT_COLUMNS])
    frame = pd.concat(parts, ignore_index=True)
    return frame.sort_values(["file_order", "line", "field_order"], kind="stable", ignore_index=True)


def row_errors(errors: pd.DataFrame, cap: int) -> list[RowError]:
    """The first ``cap`` errors as :class:`RowError` (a million of them would only waste memory)."""
    head = errors.head(cap)
    return [
        RowError(str(f), int(li), str(c), str(r))
        for f, li, c, r in zip(head["file"], head["line"], head["field"], head["reason"], strict=True)
    ]


def write_rejects(path: Path, tables: Sequence[CheckedTable], errors: pd.DataFrame) -> int:
    """Write one line per rejected row (its fields and reasons joined by "; ", then its values).

    Returns the number of rejected rows written.
    """
    columns: list[str] = []
    for table in tables:
        columns += [c for c in table.raw.columns if c not in columns]
    parts = []
    for order, table in enumerate(tables):
        mine = errors[errors["file_order"] == order]
        if mine.empty:
            continue
        several = mine["row"].duplicated(keep=False).to_numpy(dtype=bool)
        joined = (
            mine[several]
            .groupby("row", sort=False)
            .agg(
                file=("file", "first"),
                line=("line", "first"),
                field=("field", "; ".join),
                reason=("reason", "; ".join),
            )
            .reset_index()
        )
        columns_out = ["row", "file", "line", "field", "reason"]
        grouped = pd.concat([mine.loc[~several, columns_out], joined[columns_out]], ignore_index=True)
        grouped = grouped.sort_values("line", kind="stable").set_index("row")
        rows = grouped.index.to_numpy(dtype=np.int64)
        values = table.raw.frame.iloc[rows].reset_index(drop=True)
        parts.append(pd.concat([grouped.reset_index(drop=True), values], axis=1))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    frame = frame.reindex(columns=[*REJECT_COLUMNS, *columns]).astype(object)
    frame = frame.where(frame.notna(), "")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    except OSError as exc:
        raise InputError(f"cannot write the rejects file {path}: {exc.strerror or exc}") from None
    return len(frame)
