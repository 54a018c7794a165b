"""CSV import: deals, messages and templates from files into the store, all or nothing.

:func:`import_csv` is the one entry point (the CLI's ``feedbackloop import``, ``make demo`` and the
benchmark call it). It reads and validates every file completely before it writes anything; with
``skip_invalid`` it imports the good rows and writes the rejected ones, with their reasons, to a CSV.
Everything is written in one transaction, tenant row included, so an invalid or failed import leaves
the store as it was. Rows are upserted by id, so importing the same files twice changes nothing.
The format is documented in the README ("Importing CSV files") and defined in :mod:`.csvschema`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feedbackloop.connectors.csvread import read_table
from feedbackloop.connectors.csvrejects import error_frame, row_errors, write_rejects
from feedbackloop.connectors.csvschema import DEALS, MESSAGES, TEMPLATES, FileSpec
from feedbackloop.connectors.csvstore import existing_ids, write_all
from feedbackloop.connectors.csvvalidate import CheckedTable, check_table, show
from feedbackloop.errors import CsvValidationError, UsageError
from feedbackloop.store import DEFAULT_TENANT, Store
from feedbackloop.store.models import DealRow

__all__ = ["DEFAULT_REJECTS_NAME", "FileCounts", "ImportReport", "ProgressCallback", "import_csv"]

#: ``progress(stage, done, total)``: called as each stage advances (``total`` 0 when unknown).
ProgressCallback = Callable[[str, int, int], None]

#: Name of the rejects file written next to the first input when no path is given.
DEFAULT_REJECTS_NAME = "import-rejects.csv"

#: At most this many RowError objects ride on a CsvValidationError (its ``total`` counts them all).
ERROR_CAP = 10_000


@dataclass
class FileCounts:
    """Rows read from one file, imported (upserted), rejected, and really inserted or changed."""

    read: int = 0
    imported: int = 0
    rejected: int = 0
    changed: int = 0


@dataclass
class ImportReport:
    """What an import did; ``to_dict`` is the CLI's JSON output."""

    tenant: str
    deals: FileCounts = field(default_factory=FileCounts)
    messages: FileCounts = field(default_factory=FileCounts)
    templates: FileCounts = field(default_factory=FileCounts)
    templates_from_messages: int = 0
    warnings: list[str] = field(default_factory=list)
    rejects_file: str | None = None
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["duration_s"] = round(self.duration_s, 3)
        return data


def import_csv(
    store: Store,
    tenant: str | None = None,
    *,
    deals: str | Path | None = None,
    messages: str | Path | None = None,
    templates: str | Path | None = None,
    skip_invalid: bool = False,
    rejects: str | Path | None = None,
    progress: ProgressCallback | None = None,
    error_limit: int = 20,
) -> ImportReport:
    """Import CSV files into ``tenant`` (or the only tenant, or a new ``default`` one).

    Raises :class:`CsvValidationError` (nothing written) when any value is invalid, unless
    ``skip_invalid``; then the good rows are imported and the rejected ones written to ``rejects``
    (default: ``import-rejects.csv`` next to the first input file).
    """
    started = time.perf_counter()
    if deals is None and messages is None and templates is None:
        raise UsageError("nothing to import: give a deals, messages and/or templates file")
    if rejects is not None and not skip_invalid:
        raise UsageError("a rejects file is only written with --skip-invalid")
    report_progress = progress or (lambda _stage, _done, _total: None)
    known, tenant_name = _find_tenant(store, tenant)
    report = ImportReport(tenant=tenant_name)

    tables: dict[str, CheckedTable] = {}
    for spec, path in ((DEALS, deals), (MESSAGES, messages), (TEMPLATES, templates)):
        if path is not None:
            tables[spec.role] = _read(Path(path), spec, report, report_progress)
    if "messages" in tables:
        _check_deal_references(store, known, tables["messages"], tables.get("deals"))

    ordered = list(tables.values())
    errors = error_frame(ordered)
    for table in ordered:
        counts: FileCounts = getattr(report, table.spec.role)
        counts.rejected = int(table.bad.sum())
    if len(errors) and not skip_invalid:
        raise CsvValidationError(row_errors(errors, ERROR_CAP), len(errors), limit=error_limit)
    if len(errors):
        first = Path(next(p for p in (deals, messages, templates) if p is not None))
        target = Path(rejects) if rejects is not None else first.parent / DEFAULT_REJECTS_NAME
        inputs = [Path(p).resolve() for p in (deals, messages, templates) if p is not None]
        if target.resolve() in inputs:
            raise UsageError(f"the rejects file {target} would overwrite an input file; choose --rejects")
        rejected = write_rejects(target, ordered, errors)
        report.rejects_file = str(target)
        report.warnings.append(f"{rejected} invalid row(s) skipped; they and their reasons are in {target}")

    written = write_all(store, tenant_name, tables, report_progress)
    for role, (imported, changed) in written.counts.items():
        counts = getattr(report, role)
        counts.imported, counts.changed = imported, changed
    report.templates_from_messages = written.templates_from_messages
    report.duration_s = time.perf_counter() - started
    return report


def _find_tenant(store: Store, name: str | None) -> tuple[int | None, str]:
    """The tenant to import into, without creating it yet (an invalid import must write nothing)."""
    if name:
        found = store.get_tenant(name)
        return (found.id if found else None), name
    if not store.list_tenants():
        return None, DEFAULT_TENANT
    ref = store.resolve_tenant(None, create=False)  # the only one, or a UsageError naming them all
    return ref.id, ref.name


def _read(path: Path, spec: FileSpec, report: ImportReport, progress: ProgressCallback) -> CheckedTable:
    progress(f"reading {path.name}", 0, 0)
    raw = read_table(path, spec.names)
    if raw.extra_columns:
        report.warnings.append(f"{raw.name}: ignored unknown column(s): {', '.join(raw.extra_columns)}")
    progress(f"checking {path.name}", 0, 0)
    checked = check_table(raw, spec)
    counts: FileCounts = getattr(report, spec.role)
    counts.read = checked.size
    return checked


def _check_deal_references(
    store: Store, tenant_id: int | None, messages: CheckedTable, deals: CheckedTable | None
) -> None:
    """Every message must belong to a deal of this import or of the store (for this tenant)."""
    ids = pd.Series(messages.values["deal_id"])
    given = (ids != "").to_numpy(dtype=bool)
    known = np.zeros(len(ids), dtype=bool)
    rejected_at: dict[str, int] = {}
    if deals is not None:
        deal_ids = deals.values["deal_id"]
        bad = deals.bad
        known = ids.isin(deal_ids[~bad]).to_numpy(dtype=bool)
        rejected_at = dict(zip(deal_ids[bad].tolist(), deals.raw.lines[bad].tolist(), strict=True))
    open_rows = given & ~known
    if open_rows.any() and tenant_id is not None:
        wanted = set(ids[open_rows].unique().tolist())
        stored = existing_ids(store, DealRow, tenant_id, wanted)
        open_rows &= ~ids.isin(stored).to_numpy(dtype=bool)
    if not open_rows.any():
        return
    where = f"not in {deals.raw.name} nor in the store" if deals is not None else "not in the store"
    reasons = []
    for deal_id in ids[open_rows]:
        line = rejected_at.get(deal_id)
        if line is not None and deals is not None:
            reasons.append(f"deal {show(deal_id)} is invalid ({deals.raw.name}:{line})")
        else:
            reasons.append(f"unknown deal {show(deal_id)} ({where})")
    messages.add(open_rows, "deal_id", reasons)
