"""``feedbackloop serve``, ``worker``, ``apikeys create|list|revoke`` and ``outbound-url``."""

from __future__ import annotations

import typer

from feedbackloop.commands.common import OutputFormat, console, emit, simple_table, state
from feedbackloop.errors import UsageError

__all__ = ["apikeys_app", "outbound_url", "serve", "worker"]

apikeys_app = typer.Typer(
    help="API keys of the selection API (per tenant; stored hashed).", no_args_is_help=True
)
TenantOption = typer.Option(None, "--tenant", "-t", help="Tenant name.")
FormatOption = typer.Option(OutputFormat.TABLE, "--format", "-f", help="table or json.")


def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="TCP port."),
    no_worker: bool = typer.Option(
        False, "--no-worker", help="Only the web part; run `feedbackloop worker` separately."
    ),
    threads: int = typer.Option(8, "--threads", min=1, help="waitress worker threads."),
) -> None:
    """Run the service (webhooks, OAuth install, record card, selection API) on waitress.

    By default the inbox worker and the scheduler run in the same process. For Linux deployments
    gunicorn works too: gunicorn 'feedbackloop.webhooks.wsgi:app' (with `feedbackloop worker` beside it).
    """
    from feedbackloop.webhooks.service import serve_web

    app_state = state(ctx)
    serve_web(
        app_state.settings, host, port, background=not no_worker, threads=threads, store=app_state.store
    )


def worker(
    ctx: typer.Context,
    no_scheduler: bool = typer.Option(False, "--no-scheduler", help="Process the inbox only."),
) -> None:
    """Run the inbox worker and the scheduler without the web part (until Ctrl-C or SIGTERM)."""
    from feedbackloop.webhooks.service import run_worker

    run_worker(state(ctx).settings, scheduler=not no_scheduler)


@apikeys_app.command("create")
def apikeys_create(
    ctx: typer.Context,
    tenant: str = typer.Option(..., "--tenant", "-t", help="Tenant name."),
    name: str | None = typer.Option(None, "--name", help="A label for the key."),
) -> None:
    """Create a key and print it ONCE (only its hash is kept)."""
    from feedbackloop.webhooks.apikeys import create_key

    app_state = state(ctx)
    key = create_key(app_state.store, app_state.tenant(tenant), name)
    typer.echo(key)


@apikeys_app.command("list")
def apikeys_list(
    ctx: typer.Context,
    tenant: str | None = TenantOption,
    fmt: OutputFormat = FormatOption,
) -> None:
    """List keys (prefixes only)."""
    from feedbackloop.webhooks.apikeys import list_keys

    app_state = state(ctx)
    keys = list_keys(app_state.store, app_state.tenant(tenant) if tenant else None)
    emit(
        keys,
        fmt,
        lambda rows: console.print(
            simple_table(
                "API keys",
                ["prefix", "tenant", "name", "created", "revoked", "last used"],
                [[k.prefix, k.tenant, k.name, k.created_at, k.revoked_at, k.last_used_at] for k in rows],
            )
        ),
    )


@apikeys_app.command("revoke")
def apikeys_revoke(ctx: typer.Context, prefix: str = typer.Argument(..., help="The key's prefix.")) -> None:
    """Revoke a key at once."""
    from feedbackloop.webhooks.apikeys import revoke_key

    revoke_key(state(ctx).store, prefix)
    typer.echo(f"revoked {prefix}")


def outbound_url(ctx: typer.Context, tenant: str = typer.Option(..., "--tenant", "-t")) -> None:
    """Give a Salesforce tenant a new outbound-message URL (printed once; the old one stops working)."""
    from feedbackloop.webhooks.salesforce import new_outbound_secret

    app_state = state(ctx)
    ref = app_state.tenant(tenant)
    if ref.provider != "salesforce":
        raise UsageError(f"tenant {tenant!r} is not a Salesforce tenant")
    secret = new_outbound_secret(app_state.store, ref)
    typer.echo(f"{app_state.settings.public_url.rstrip('/')}/webhooks/salesforce/{secret}")
