"""The demo's CRM stage: sandbox CRMs on loopback, connected, synced, scored and written back."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from feedbackloop.analysis import analyze_tenant
from feedbackloop.config.settings import Settings
from feedbackloop.connectors.base import Connector, SyncBatch
from feedbackloop.connectors.registry import build_connector
from feedbackloop.connectors.sync import SyncSummary, run_sync
from feedbackloop.connectors.writeback import run_writeback
from feedbackloop.demo.summary import print_findings
from feedbackloop.store import Store, TenantRef

__all__ = ["CrmRun", "run_crm"]


@dataclass
class CrmRun:
    """What the demo did with one CRM, for the closing summary."""

    tenant: str
    provider: str
    sync: dict[str, Any] = field(default_factory=dict)
    writeback: dict[str, Any] = field(default_factory=dict)
    install: dict[str, Any] = field(default_factory=dict)
    analysis: dict[str, Any] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    report: str | None = None
    seconds: float = 0.0


def _sync_with_progress(
    console: Console, store: Store, tenant: TenantRef, connector: Connector, expected: int
) -> SyncSummary:
    with Progress(
        SpinnerColumn(),
        TextColumn(f"syncing {tenant.name}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} deals · {task.fields[calls]} API calls"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("sync", total=expected, calls=0)

        def on_batch(batch: SyncBatch, summary: SyncSummary) -> None:
            del batch
            progress.update(task, completed=min(summary.deals, expected), calls=summary.api_calls)

        return run_sync(store, tenant, connector, on_batch=on_batch)


def run_crm(
    console: Console,
    settings: Settings,
    store: Store,
    tenant: TenantRef,
    truth: dict[str, Any],
    examples: Callable[[], list[str]],
) -> CrmRun:
    """Install, sync, analyze and write back one connected tenant; print what the engine found."""
    started = time.perf_counter()
    run = CrmRun(tenant.name, tenant.provider)
    connector = build_connector(settings, store, tenant)
    report = connector.install()
    run.install = {
        "created": len(report.created),
        "existing": len(report.existing),
        "skipped": report.skipped,
    }
    console.print(
        f"[green]✓[/green] {tenant.name}: install created {len(report.created)} field(s)/object(s)"
        + (f", skipped {', '.join(report.skipped)}" if report.skipped else "")
    )
    expected = int(truth["deals"]["won"]) + int(truth["deals"]["lost"])
    summary = _sync_with_progress(console, store, tenant, connector, expected)
    run.sync = summary.to_json()
    console.print(
        f"[green]✓[/green] {tenant.name}: synced {summary.deals:,} closed deals "
        f"and {summary.messages:,} emails with {summary.api_calls} API calls in {summary.duration_s:.1f} s "
        f"(the sandbox reports {expected:,} closed deals and {truth['emails']:,} emails on them)"
    )
    analysis = analyze_tenant(store, tenant, _as_of(truth))
    run.analysis = analysis
    print_findings(console, f"{tenant.provider.capitalize()} tenant '{tenant.name}'", analysis, truth)
    written = run_writeback(store, tenant, connector, analysis)
    run.writeback = written.to_json()
    console.print(
        f"[green]✓[/green] {tenant.name}: wrote {written.updated:,} record(s) back "
        f"({written.failed} failed) with {written.api_calls} API calls"
    )
    run.examples = examples()
    run.report = str(_html_report(store, tenant, analysis))
    run.seconds = time.perf_counter() - started
    return run


def _html_report(store: Store, tenant: TenantRef, analysis: dict[str, Any]) -> Path:
    """The tenant's dashboard as one self-contained HTML file next to the demo data."""
    from feedbackloop.dashboard import build_dashboard, render_dashboard, write_dashboard

    path = store.db.url.removeprefix("sqlite:///")
    target = Path(path).parent.parent / f"report-{tenant.name}.html"
    write_dashboard(target, render_dashboard(build_dashboard(store, tenant, analysis)))
    return target


def _as_of(truth: dict[str, Any]) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(str(truth["now"]))
