"""`feedbackloop connect hubspot`: connect a HubSpot portal with a private-app access token."""

from __future__ import annotations

import typer

from feedbackloop.commands.common import OutputFormat, console, emit, simple_table, state
from feedbackloop.commands.connectors import FormatOption
from feedbackloop.connectors.hubspot import DEFAULT_BASE_URL

__all__ = ["connect_hubspot"]


def connect_hubspot(
    ctx: typer.Context,
    token: str = typer.Option(
        ...,
        "--token",
        envvar="HUBSPOT_TOKEN",
        help="Private-app access token (or $HUBSPOT_TOKEN).",
        show_default=False,
    ),
    base_url: str = typer.Option(
        DEFAULT_BASE_URL, "--base-url", help="API base URL (the sandbox's for a trial)."
    ),
    tenant: str | None = typer.Option(
        None, "--tenant", "-t", help="Tenant name (default: hubspot-<portal id>)."
    ),
    fmt: OutputFormat = FormatOption,
) -> None:
    """Verify a HubSpot token, look up its portal and save it (encrypted) as a tenant.

    Example: feedbackloop connect hubspot --token pat-na1-… --tenant acme
    """
    from feedbackloop.connectors.hubspot.client import HubSpotClient
    from feedbackloop.connectors.hubspot.oauth import lookup_hub_id, store_connection
    from feedbackloop.crypto import secret_box

    app = state(ctx)
    client = HubSpotClient(lambda: token, base_url=base_url, tenant_key=f"connect:{base_url}")
    try:
        pipelines = client.api("crm.pipelines.pipelines_api")
        client.call("token check", lambda t: pipelines.get_all(object_type="deals", _request_timeout=t))
        hub_id = lookup_hub_id(client, token)
    finally:
        client.close()
    name = tenant or (f"hubspot-{hub_id}" if hub_id is not None else "hubspot")
    ref = store_connection(
        app.store, secret_box(app.settings), name, base_url=base_url, hub_id=hub_id, private_token=token
    )
    result = {"tenant": ref.name, "provider": "hubspot", "hub_id": hub_id, "base_url": base_url}
    emit(
        result,
        fmt,
        lambda r: console.print(simple_table("Connected HubSpot", ["", ""], [[k, v] for k, v in r.items()])),
    )
