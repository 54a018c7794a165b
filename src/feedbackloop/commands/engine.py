"""`analyze`, `report` and `templates list|show|set-status`: run the engine and act on its decisions.

`analyze` records the run (``analysis_runs``), its decisions (``decisions``) and the status changes the
engine made (template status history, actor "engine") unless ``--dry-run``; `report` never writes.
Humans override statuses with `templates set-status` (actor "human"); ``--pin`` stops the engine from
changing a template's status.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from feedbackloop.commands.common import AppState, OutputFormat, console, emit, simple_table, state
from feedbackloop.domain import TemplateStatus
from feedbackloop.errors import UsageError

if TYPE_CHECKING:
    from feedbackloop.sqlite_arrow import Reader

__all__ = ["analyze", "parse_as_of", "report", "templates_app"]

templates_app = typer.Typer(
    help="Inspect templates and override the engine's statuses.", no_args_is_help=True
)

TenantOption = typer.Option(None, "--tenant", "-t", help="Tenant name (default: the only one).")
AsOfOption = typer.Option(
    None, "--as-of", help="Analyse as of this UTC date or time (YYYY-MM-DD[THH:MM]); default: now."
)
FormatOption = typer.Option(OutputFormat.TABLE, "--format", "-f", help="Output format.")
SeedOption = typer.Option(0, "--seed", help="Seed of the random generator (Monte Carlo summaries).")
HtmlOption = typer.Option(
    None, "--html", help="Also write the dashboard as one self-contained HTML file.", dir_okay=False
)


def parse_as_of(value: str | None) -> datetime:
    """``None`` → now (UTC); a date → 00:00 UTC that day; a naive time is taken as UTC."""
    if not value:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--as-of {value!r} is not a date (YYYY-MM-DD) or ISO time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _render_analysis(data: dict[str, Any]) -> None:
    from feedbackloop.engine.report import render_report

    rows = [
        [t["template_id"], t["deals"], t["win_rate"], t["posterior_mean"], t["score"],
         (t.get("decision_numbers") or {}).get("p_better_than_average"), t["action"], t["status"],
         str(t["data_status"]).replace("_", " ")]
        for t in data["templates"]
    ]  # fmt: skip
    console.print(
        simple_table(
            f"Templates as of {data['as_of']} (data: {data['data_status']})",
            ["template", "deals", "win\nrate", "post.\nmean", "score", "P\n>avg", "action", "status", "data"],
            rows,
        )
    )
    render_report(data, console)


@contextmanager
def _early_reader(app_state: AppState, tenant: str | None) -> Iterator[Reader | None]:
    """Start reading the store's engine tables before the store and the engine are imported (on a
    SQLite file; :mod:`feedbackloop.analysis_input`); whatever is not used is stopped on the way out."""
    from feedbackloop.analysis_input import start_reading

    reader = start_reading(app_state.settings.effective_database_url, tenant)
    try:
        yield reader
    finally:
        if reader is not None:
            reader.discard()


def analyze(
    ctx: typer.Context,
    tenant: str | None = TenantOption,
    as_of: str | None = AsOfOption,
    fmt: OutputFormat = FormatOption,
    dry_run: bool = typer.Option(False, "--dry-run", help="Compute and print, but record nothing."),
    seed: int = SeedOption,
) -> None:
    """Run the engine over the store: scores, trends, decisions, segments, win/loss, alerts.

    Records the run, the decisions and the engine's status changes unless --dry-run.

    Example: feedbackloop analyze --as-of 2026-06-01 --format json
    """
    app_state = state(ctx)
    with _early_reader(app_state, tenant) as reader:
        from feedbackloop.analysis import analyze_tenant

        ref = app_state.tenant(tenant, create=True)
        when = parse_as_of(as_of)
        data = analyze_tenant(app_state.store, ref, when, seed=seed, dry_run=dry_run, reader=reader)
    emit(data, fmt, _render_analysis)


def report(
    ctx: typer.Context,
    tenant: str | None = TenantOption,
    as_of: str | None = AsOfOption,
    fmt: OutputFormat = FormatOption,
    seed: int = SeedOption,
    html: Path | None = HtmlOption,
) -> None:
    """Print the performance report: overall trend, top and under-performers, insights, recommendations.

    Computed fresh (nothing is recorded). Example: feedbackloop report --format table
    Example: feedbackloop report --html dashboard.html (the charts, offline, in one file)
    """
    app_state = state(ctx)
    with _early_reader(app_state, tenant) as reader:
        from feedbackloop.analysis import compute_analysis
        from feedbackloop.engine.report import render_report

        ref = app_state.tenant(tenant, create=True)
        data = compute_analysis(app_state.store, ref, parse_as_of(as_of), seed, reader=reader).to_dict()
    if html is not None:
        from feedbackloop.dashboard import build_dashboard, render_dashboard, write_dashboard

        write_dashboard(html, render_dashboard(build_dashboard(app_state.store, ref, data)))
    out = {k: data[k] for k in ("schema_version", "as_of", "data_status", "report", "alerts")}
    emit(out, fmt, lambda d: render_report(d, console))


@templates_app.command("list")
def templates_list(
    ctx: typer.Context, tenant: str | None = TenantOption, fmt: OutputFormat = FormatOption
) -> None:
    """List templates with their status, pin and the engine's latest decision.

    Example: feedbackloop templates list --format json
    """
    from feedbackloop.engine.result import clean
    from feedbackloop.store.runs import latest_decisions

    app_state = state(ctx)
    ref = app_state.tenant(tenant, create=False)
    frame = app_state.store.templates_frame(ref).sort_values("template_id")
    last = latest_decisions(app_state.store, ref)
    data = [
        {
            "template_id": str(r.template_id),
            "name": r.name,
            "status": r.status,
            "pinned": bool(r.pinned),
            "status_changed_at": clean(r.status_changed_at),
            "last_decision": last.get(str(r.template_id)),
        }
        for r in frame.itertuples()
    ]  # fmt: skip

    def render(rows: list[dict[str, Any]]) -> None:
        cols = ["template_id", "name", "status", "pinned", "last_decision", "status_changed_at"]
        console.print(simple_table("Templates", cols, [[r[c] for c in cols] for r in rows]))

    emit(data, fmt, render)


@templates_app.command("show")
def templates_show(
    ctx: typer.Context, template_id: str, tenant: str | None = TenantOption, fmt: OutputFormat = FormatOption
) -> None:
    """Show one template: status, pin, status history and the engine's recent decisions with criteria.

    Example: feedbackloop templates show T01
    """
    from feedbackloop.store.runs import decision_history

    app_state = state(ctx)
    ref = app_state.tenant(tenant, create=False)
    frame = app_state.store.templates_frame(ref)
    match = frame[frame["template_id"] == template_id]
    if match.empty:
        raise UsageError(f"unknown template {template_id!r} in tenant {ref.name!r}")
    row = match.iloc[0]
    data = {
        "template_id": template_id,
        "name": row["name"],
        "subject": row["subject"],
        "status": row["status"],
        "pinned": bool(row["pinned"]),
        "history": app_state.store.template_history(ref, template_id),
        "decisions": decision_history(app_state.store, ref, template_id),
    }

    def render(d: dict[str, Any]) -> None:
        console.print(f"[bold]{d['template_id']}[/bold] {d['name'] or ''}: status {d['status']}"
                      f"{' (pinned)' if d['pinned'] else ''}")  # fmt: skip
        hist = [
            [h["changed_at"], h["old_status"], h["new_status"], h["actor"], h["reason"]] for h in d["history"]
        ]
        console.print(simple_table("Status history", ["when", "from", "to", "by", "reason"], hist))
        if d["decisions"]:
            latest = d["decisions"][0]
            crit = [
                [k, v.get("value"), v.get("threshold"), v.get("met")] for k, v in latest["criteria"].items()
            ]
            console.print(simple_table(f"Latest decision: {latest['action']} ({latest['reason']})",
                                       ["criterion", "value", "threshold", "met"], crit))  # fmt: skip

    emit(data, fmt, render)


@templates_app.command("set-status")
def templates_set_status(
    ctx: typer.Context,
    template_id: str,
    status: TemplateStatus,
    tenant: str | None = TenantOption,
    pin: bool | None = typer.Option(
        None, "--pin/--unpin", help="Pin (the engine may not change it) or unpin."
    ),
    reason: str | None = typer.Option(None, "--reason", help="Why; kept in the status history."),
) -> None:
    """Set a template's status by hand (recorded with actor "human").

    Example: feedbackloop templates set-status T07 deprecated --pin --reason "legal asked"
    """
    app_state = state(ctx)
    ref = app_state.tenant(tenant, create=False)
    old = app_state.store.set_template_status(
        ref, template_id, status.value, actor="human", reason=reason, pinned=pin
    )
    pinned = "" if pin is None else " (pinned)" if pin else " (unpinned)"
    console.print(f"{template_id}: {old} → {status.value}{pinned}")
