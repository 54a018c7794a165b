"""Connecting an org as a tenant: verify the token with one call, then store the tenant and its secrets.

Shared by `feedbackloop connect salesforce` (session token) and the web service's OAuth install callback
(tokens from :meth:`OAuthApp.exchange_code`), so a tenant looks the same however it was connected.
"""

from __future__ import annotations

from typing import Any

from feedbackloop.config.settings import Settings
from feedbackloop.connectors.salesforce.client import DEFAULT_API_VERSION, SalesforceClient
from feedbackloop.connectors.salesforce.connector import CLIENT_SECRET
from feedbackloop.connectors.salesforce.oauth import (
    OAuthApp,
    Pkce,
    TokenSet,
    org_id_from_identity,
    save_tokens,
)
from feedbackloop.crypto import secret_box
from feedbackloop.errors import AuthError, UsageError
from feedbackloop.store import Store, TenantRef

__all__ = ["connect_from_code", "connect_tenant", "identify"]


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


def connect_from_code(
    settings: Settings,
    store: Store,
    app: OAuthApp,
    code: str,
    pkce: Pkce,
    *,
    name: str | None = None,
    api_version: str = DEFAULT_API_VERSION,
) -> TenantRef:
    """The OAuth install callback in one call: exchange ``code`` (with the PKCE verifier), verify the
    token, and store the tenant with what a refresh needs (login host, client id, encrypted secret)."""
    tokens = app.exchange_code(code, pkce)
    extra = {"client_id": app.client_id, "login_url": app.login_url, "redirect_uri": app.redirect_uri}
    return connect_tenant(
        settings,
        store,
        name,
        tokens,
        ca_bundle=app.ca_bundle,
        api_version=api_version,
        extra=extra,
        client_secret=app.client_secret,
    )
