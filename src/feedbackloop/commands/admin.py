"""`config show`, `db upgrade`, `tenants list`: inspecting and preparing an installation."""

from __future__ import annotations

from typing import Any

import typer

from feedbackloop.commands.common import OutputFormat, console, emit, simple_table, state

__all__ = ["config_app", "db_app", "tenants_app"]

config_app = typer.Typer(help="Inspect the configuration.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)
tenants_app = typer.Typer(
    help="List tenants (connected CRM accounts and CSV workspaces).", no_args_is_help=True
)

FormatOption = typer.Option(OutputFormat.TABLE, "--format", "-f", help="Output format.")


@config_app.command("show")
def config_show(ctx: typer.Context, fmt: OutputFormat = FormatOption) -> None:
    """Print the effective configuration, with secrets masked.

    Example: feedbackloop config show --format json
    """
    from feedbackloop.config.settings import masked

    data = masked(state(ctx).settings)

    def render(d: dict[str, Any]) -> None:
        console.print(
            simple_table("Effective configuration", ["setting", "value"], [[k, v] for k, v in d.items()])
        )

    emit(data, fmt, render)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Migrate the database to the newest schema (also done automatically on first use).

    Example: FEEDBACKLOOP_DATABASE_URL=postgresql+psycopg://127.0.0.1/test feedbackloop db upgrade
    """
    from feedbackloop.store import Database

    settings = state(ctx).settings
    settings.home.mkdir(parents=True, exist_ok=True)
    db = Database(settings.effective_database_url)
    try:
        before, after = db.upgrade()
    finally:
        db.dispose()
    if before == after:
        console.print(f"database {db.safe_url} is up to date (revision {after})")
    else:
        console.print(f"database {db.safe_url} migrated from {before or 'empty'} to {after}")


@tenants_app.command("list")
def tenants_list(ctx: typer.Context, fmt: OutputFormat = FormatOption) -> None:
    """List tenants.

    Example: feedbackloop tenants list --format json
    """
    tenants = state(ctx).store.list_tenants()
    data = [{"name": t.name, "provider": t.provider, "external_id": t.external_id} for t in tenants]

    def render(rows: list[dict[str, Any]]) -> None:
        console.print(
            simple_table("Tenants", ["name", "provider", "external id"], [list(r.values()) for r in rows])
        )

    emit(data, fmt, render)
