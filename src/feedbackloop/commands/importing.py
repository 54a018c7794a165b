"""`feedbackloop import`: deals, messages and templates from CSV files, all or nothing."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from feedbackloop.commands.common import OutputFormat, console, emit, err_console, simple_table, state

if TYPE_CHECKING:
    from feedbackloop.connectors.csvfiles import ImportReport, ProgressCallback

__all__ = ["import_command"]

#: Files smaller than this import too fast for a progress bar to help.
PROGRESS_MIN_BYTES = 5_000_000


def import_command(
    ctx: typer.Context,
    deals: Annotated[
        Path | None,
        typer.Option("--deals", help="deals.csv (deal_id, outcome, …).", exists=True, dir_okay=False),
    ] = None,
    messages: Annotated[
        Path | None,
        typer.Option(
            "--messages", help="messages.csv (message_id, deal_id, sent_at, …).", exists=True, dir_okay=False
        ),
    ] = None,
    templates: Annotated[
        Path | None,
        typer.Option("--templates", help="templates.csv (template_id, …).", exists=True, dir_okay=False),
    ] = None,
    tenant: Annotated[
        str | None,
        typer.Option("--tenant", help="Tenant to import into (default: the only one, or a new 'default')."),
    ] = None,
    skip_invalid: Annotated[
        bool,
        typer.Option("--skip-invalid", help="Import valid rows; write invalid ones to a rejects CSV."),
    ] = False,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            help="Where --skip-invalid writes rejected rows (default: import-rejects.csv next to the input).",
            dir_okay=False,
        ),
    ] = None,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.TABLE,
) -> None:
    """Import deals, messages and templates from CSV files (the format is in the README).

    Every row is checked first. If any value is invalid, nothing is imported and each problem is
    listed as file:line: field: reason; --skip-invalid imports the valid rows instead.
    Re-importing the same files changes nothing.

    Examples:

      feedbackloop import --deals deals.csv --messages messages.csv

      feedbackloop import --deals d.csv --messages m.csv --templates t.csv --tenant acme

      feedbackloop import --deals d.csv --messages m.csv --skip-invalid --rejects bad.csv -f json
    """
    if deals is None and messages is None and templates is None:
        raise typer.BadParameter("give at least one of --deals, --messages, --templates")
    if rejects is not None and not skip_invalid:
        raise typer.BadParameter("--rejects is only used with --skip-invalid", param_hint="--rejects")
    from feedbackloop.connectors.csvfiles import import_csv

    app = state(ctx)
    store = app.store
    size = sum(p.stat().st_size for p in (deals, messages, templates) if p is not None)
    show_bar = fmt is OutputFormat.TABLE and err_console.is_terminal and size >= PROGRESS_MIN_BYTES
    bar = _ProgressBar() if show_bar else None
    callback: ProgressCallback | None = bar.update if bar else None
    with bar or nullcontext():
        report = import_csv(
            store,
            tenant,
            deals=deals,
            messages=messages,
            templates=templates,
            skip_invalid=skip_invalid,
            rejects=rejects,
            progress=callback,
        )
    emit(report.to_dict(), fmt, lambda _data: _render(report))


class _ProgressBar(AbstractContextManager["_ProgressBar"]):
    """A rich progress display on stderr, one line per import stage."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _ProgressBar:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, stage: str, done: int, total: int) -> None:
        for other, task in self.tasks.items():  # an earlier stage without a total is finished
            if other != stage and self.progress.tasks[task].total is None:
                self.progress.update(task, total=1, completed=1)
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=total or None)
        self.progress.update(self.tasks[stage], completed=done, total=total or None)


def _render(report: ImportReport) -> None:
    rows: list[list[Any]] = []
    for role in ("deals", "messages", "templates"):
        c = getattr(report, role)
        rows.append([role, c.read, c.imported, c.rejected, c.changed])
    console.print(
        simple_table(
            f"Imported into tenant {report.tenant!r} in {report.duration_s:.1f} s",
            ["file", "read", "imported", "rejected", "new or changed"],
            rows,
        )
    )
    if report.templates_from_messages:
        console.print(f"{report.templates_from_messages} template(s) created from template ids in messages")
    for warning in report.warnings:
        err_console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False, soft_wrap=True)
    if report.rejects_file:
        console.print(f"rejected rows: {report.rejects_file}")
    sys.stdout.flush()
