"""`feedbackloop connect salesforce`: connect an org with a session token (OAuth tenants come from the
web service's install callback, which uses the same
:func:`feedbackloop.connectors.salesforce.connect.connect_tenant`)."""

from __future__ import annotations

from pathlib import Path

import typer

from feedbackloop.commands.common import OutputFormat, console, emit, simple_table, state
from feedbackloop.connectors.salesforce import DEFAULT_API_VERSION
from feedbackloop.errors import UsageError

__all__ = ["connect_salesforce"]

CaBundleOption = typer.Option(None, "--ca-bundle", help="CA file to trust (e.g. the sandbox's).")
FormatOption = typer.Option(OutputFormat.TABLE, "--format", "-f", help="Output format.")


def connect_salesforce(
    ctx: typer.Context,
    instance_url: str = typer.Option(
        ..., "--instance-url", help="The org's URL, e.g. https://acme.my.salesforce.com"
    ),
    token: str = typer.Option(
        ...,
        "--token",
        envvar="FEEDBACKLOOP_SALESFORCE_TOKEN",
        help="A session (access) token.",
        show_default=False,
    ),
    ca_bundle: Path | None = CaBundleOption,
    tenant: str | None = typer.Option(
        None, "--tenant", "-t", help="Tenant name (default: salesforce-<org id>)."
    ),
    api_version: str = typer.Option(DEFAULT_API_VERSION, "--api-version", help="REST API version."),
    loss_reason_field: str | None = typer.Option(
        None,
        "--loss-reason-field",
        help="Opportunity field holding the loss reason (default Loss_Reason__c).",
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Connect a Salesforce org with a session token (verified with one call; stored encrypted).

    A session token cannot be refreshed: when it expires, connect again (OAuth tenants refresh).

    Example: feedbackloop connect salesforce --instance-url https://127.0.0.1:8443 --token TOKEN
    --ca-bundle sandbox-ca.pem --tenant acme
    """
    from feedbackloop.connectors.salesforce.connect import connect_tenant
    from feedbackloop.connectors.salesforce.oauth import TokenSet

    app = state(ctx)
    if ca_bundle is not None and not ca_bundle.is_file():
        raise UsageError(f"--ca-bundle {ca_bundle} is not a file")
    tokens = TokenSet(access_token=token, instance_url=instance_url.rstrip("/"))
    extra = {"loss_reason_field": loss_reason_field} if loss_reason_field else None
    ref = connect_tenant(
        app.settings,
        app.store,
        tenant,
        tokens,
        ca_bundle=str(ca_bundle.resolve()) if ca_bundle else None,
        api_version=api_version.removeprefix("v"),
        extra=extra,
    )
    result = {
        "tenant": ref.name,
        "provider": ref.provider,
        "org_id": ref.external_id,
        "instance_url": ref.settings.get("instance_url"),
    }
    emit(
        result,
        fmt,
        lambda r: console.print(simple_table("Connected", ["", ""], [[k, v] for k, v in r.items()])),
    )
