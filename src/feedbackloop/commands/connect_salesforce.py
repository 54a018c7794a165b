"""`feedbackloop connect salesforce`: connect an org with a session token (OAuth tenants come from the
web service's install callback, which uses the same :func:`connect_tenant`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from feedbackloop.commands.common import OutputFormat, console, emit, simple_table, state
from feedbackloop.config.settings import Settings
from feedbackloop.connectors.salesforce.client import DEFAULT_API_VERSION, SalesforceClient
from feedbackloop.connectors.salesforce.connector import CLIENT_SECRET
from feedbackloop.connectors.salesforce.oauth import TokenSet, org_id_from_identity, save_tokens
from feedbackloop.crypto import secret_box
from feedbackloop.errors import AuthError, UsageError
from feedbackloop.store import Store, TenantRef

__all__ = ["connect_salesforce", "connect_tenant", "identify"]

CaBundleOption = typer.Option(None, "--ca-bundle", help="CA file to trust (e.g. the sandbox's).")
FormatOption = typer.Option(OutputFormat.TABLE, "--format", "-f", help="Output format.")


def identify(client: SalesforceClient) -> tuple[str, str | None]:
    """(org id, user id) of the token's user: one cheap call to ``/services/oauth2/userinfo``."""

    def userinfo(sf: Any) -> dict[str, Any]:
        response = client.session.get(
            f"{client.instance_url}/services/oauth2/userinfo",
            headers={"Authorization": f"Bearer {sf.session_id}"},
        )
        if response.status_code in (401, 403):
            raise AuthError("Salesforce refused the token (userinfo); check it or connect again")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    body = client.call(userinfo, "the userinfo call")
    org_id = body.get("organization_id") or org_id_from_identity(body.get("sub"))
    if not org_id:
        raise AuthError("Salesforce's userinfo did not name the organization")
    return str(org_id), body.get("user_id")


def connect_tenant(
    settings: Settings,
    store: Store,
    name: str | None,
    tokens: TokenSet,
    *,
    ca_bundle: str | None = None,
    api_version: str = DEFAULT_API_VERSION,
    extra: dict[str, Any] | None = None,
    client_secret: str | None = None,
) -> TenantRef:
    """Verify ``tokens`` with one call, then create (or update) the tenant and store its secrets."""
    client = SalesforceClient(
        tokens.instance_url, tokens.access_token, ca_bundle=ca_bundle, api_version=api_version
    )
    org_id, user_id = identify(client)
    tenant_name = name or f"salesforce-{org_id}"
    existing = store.get_tenant(tenant_name)
    if existing is not None and existing.provider not in ("salesforce", "csv"):
        raise UsageError(
            f"tenant {tenant_name!r} is connected to {existing.provider}; choose another --tenant"
        )
    previous = dict(existing.settings) if existing else {}
    options = {
        "loss_reason_field": "Loss_Reason__c",
        "quota_share": 0.25,
        **previous,
        "instance_url": tokens.instance_url,
        "ca_bundle": ca_bundle,
        "api_version": api_version,
        "user_id": user_id,
        **(extra or {}),
    }
    if existing is None:
        tenant = store.create_tenant(tenant_name, provider="salesforce", external_id=org_id, settings=options)
    else:
        tenant = store.update_tenant(existing, provider="salesforce", external_id=org_id, settings=options)
    box = secret_box(settings)
    save_tokens(store, tenant, tokens, box)
    if client_secret:
        store.put_credential(tenant, CLIENT_SECRET, client_secret, box)
    return tenant


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
