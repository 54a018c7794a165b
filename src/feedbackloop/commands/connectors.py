"""`install`, `check`, `sync`: the provider-neutral commands over a tenant's CRM connector."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from feedbackloop.commands.common import OutputFormat, console, emit, err_console, simple_table, state
from feedbackloop.domain import to_jsonable

if TYPE_CHECKING:
    from feedbackloop.connectors.base import SyncBatch
    from feedbackloop.connectors.sync import SyncSummary

__all__ = ["check", "connect_app", "install", "sync", "writeback"]

connect_app = typer.Typer(
    help="Connect a CRM account as a tenant (credentials are encrypted at rest).", no_args_is_help=True
)

TenantOption = typer.Option(None, "--tenant", "-t", help="Tenant name (default: the only one).")
FormatOption = typer.Option(OutputFormat.TABLE, "--format", "-f", help="Output format.")


def _kv_table(title: str, data: dict[str, Any]) -> None:
    rows = [
        [k, v if isinstance(v, int | float | str) or v is None else to_jsonable(v)] for k, v in data.items()
    ]
    console.print(simple_table(title, ["", ""], rows))


def install(ctx: typer.Context, tenant: str | None = TenantOption, fmt: OutputFormat = FormatOption) -> None:
    """Create the CRM properties, fields and objects that write-back needs (safe to run again).

    Example: feedbackloop install --tenant acme
    """
    from feedbackloop.connectors.registry import build_connector

    app = state(ctx)
    ref = app.tenant(tenant)
    report = build_connector(app.settings, app.store, ref).install()
    emit(report, fmt, lambda r: _kv_table(f"Install for {ref.name}", to_jsonable(r)))


def check(ctx: typer.Context, tenant: str | None = TenantOption, fmt: OutputFormat = FormatOption) -> None:
    """Check the CRM connection: auth, scopes, optional fields (and what missing ones cost), quota.

    Example: feedbackloop check --tenant acme --format json
    """
    from feedbackloop.connectors.registry import build_connector

    app = state(ctx)
    ref = app.tenant(tenant)
    report = build_connector(app.settings, app.store, ref).check()
    emit(report, fmt, lambda r: _kv_table(f"Check of {ref.name}", to_jsonable(r)))
    if not report.ok:
        raise typer.Exit(1)


def sync(
    ctx: typer.Context,
    tenant: str | None = TenantOption,
    full: bool = typer.Option(False, "--full", help="Ignore the saved cursor and sync everything again."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Sync closed-won and closed-lost deals and their emails from the CRM (incremental by default).

    Prints the totals stored after the run: {"deals", "messages", "templates", "api_calls", "duration_s"}.

    Example: feedbackloop sync --tenant acme --format json
    """
    from feedbackloop.connectors.registry import build_connector
    from feedbackloop.connectors.sync import run_sync
    from feedbackloop.store.models import DealRow, MessageRow, TemplateRow

    app = state(ctx)
    ref = app.tenant(tenant)
    connector = build_connector(app.settings, app.store, ref)
    with Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=err_console,
        disable=fmt is OutputFormat.JSON,
        transient=True,
    ) as progress:
        task = progress.add_task(f"syncing {ref.name}", total=None, detail="")

        def on_batch(batch: SyncBatch, summary: SyncSummary) -> None:
            del batch
            progress.update(
                task,
                detail=f"{summary.deals} deals, {summary.messages} emails, {summary.api_calls} API calls",
            )

        summary = run_sync(app.store, ref, connector, full=full, on_batch=on_batch)
    store = app.store
    result = {
        "deals": store.count(DealRow, ref),
        "messages": store.count(MessageRow, ref),
        "templates": store.count(TemplateRow, ref),
        "api_calls": summary.api_calls,
        "duration_s": round(summary.duration_s, 3),
        "fetched": {"deals": summary.deals, "messages": summary.messages, "templates": summary.templates},
        "skipped": len(summary.skipped),
        "skipped_reasons": sorted({s.reason for s in summary.skipped}),
    }
    emit(result, fmt, lambda r: _kv_table(f"Sync of {ref.name}", r))


def writeback(
    ctx: typer.Context,
    tenant: str | None = TenantOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be written; write nothing."),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Write template scores, deprecation flags and next-template advice back into the CRM.

    Uses the latest recorded analysis (runs one first if there is none) and sends only values that
    changed since the last successful write. Prints {"updated", "unchanged", "failed", "api_calls"}.

    Example: feedbackloop writeback --tenant acme --dry-run
    """
    from feedbackloop.analysis import analyze_tenant
    from feedbackloop.connectors.registry import build_connector
    from feedbackloop.connectors.writeback import run_writeback
    from feedbackloop.store import utcnow
    from feedbackloop.store.runs import latest_run_result

    app = state(ctx)
    ref = app.tenant(tenant)
    connector = build_connector(app.settings, app.store, ref)
    result = latest_run_result(app.store, ref)
    if result is None:
        err_console.print(f"no analysis recorded for {ref.name} yet: analyzing first")
        result = analyze_tenant(app.store, ref, utcnow())
    summary = run_writeback(app.store, ref, connector, result, dry_run=dry_run)
    emit(summary.to_json(), fmt, lambda r: _kv_table(f"Write-back to {ref.name}", r))
    if summary.failed:
        if any("DOESNT_EXIST" in f["reason"] or "INVALID_FIELD" in f["reason"] for f in summary.failures):
            err_console.print(
                f"hint: run `feedbackloop install --tenant {ref.name}` to create the fields first"
            )
        raise typer.Exit(1)
