"""Installing feedbackloop as a CRM app: the OAuth install and callback routes of both CRMs.

``state`` is a random token stored only as its SHA-256, single-use and expiring after 10 minutes (it
also carries the PKCE verifier, encrypted, for Salesforce). Token exchange, portal/org lookup, token
storage and refresh live in the connectors' OAuth modules; this module only routes the browser.

The CRM hosts come from ``app.config`` (``FL_HUBSPOT_AUTHORIZE_URL``, ``FL_HUBSPOT_API_URL``,
``FL_SALESFORCE_LOGIN_URL``) so the sandboxes can stand in for the real CRMs.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from html import escape
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, redirect, request

from feedbackloop.errors import ConfigError, InputError
from feedbackloop.store import utcnow
from feedbackloop.store.service_models import OAuthStateRow
from feedbackloop.webhooks.context import ServiceContext, service

__all__ = ["HUBSPOT_OPTIONAL_SCOPES", "HUBSPOT_SCOPES", "STATE_TTL", "bp"]

bp = Blueprint("oauth", __name__, url_prefix="/oauth")

STATE_TTL = timedelta(minutes=10)
#: Reference §9.4: what sync, write-back and property creation need.
HUBSPOT_SCOPES = (
    "oauth",
    "crm.objects.deals.read",
    "crm.objects.deals.write",
    "crm.schemas.deals.read",
    "crm.schemas.deals.write",
    "crm.objects.contacts.read",
    "crm.objects.companies.read",
    "sales-email-read",
)
HUBSPOT_OPTIONAL_SCOPES = ("automation.sequences.read", "crm.objects.owners.read")
DEFAULTS = {
    "FL_HUBSPOT_AUTHORIZE_URL": "https://app.hubspot.com/oauth/authorize",
    "FL_HUBSPOT_API_URL": "https://api.hubapi.com",
    "FL_SALESFORCE_LOGIN_URL": "https://login.salesforce.com",
    "FL_SALESFORCE_CA_BUNDLE": None,
}


def _conf(key: str) -> str | None:
    value = current_app.config.get(key, DEFAULTS[key])
    return None if value is None else str(value)


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()


def _redirect_uri(ctx: ServiceContext, provider: str) -> str:
    return f"{ctx.settings.public_url.rstrip('/')}/oauth/{provider}/callback"


def _new_state(ctx: ServiceContext, provider: str, verifier: str | None = None) -> str:
    state = secrets.token_urlsafe(32)
    tenant = request.args.get("tenant") or None
    if tenant is not None and (len(tenant) > 100 or not tenant.replace("-", "").replace("_", "").isalnum()):
        raise InputError("tenant names are letters, digits, - and _ (at most 100)")
    with ctx.store.db.session() as s:
        s.execute(sa.delete(OAuthStateRow).where(OAuthStateRow.expires_at < utcnow()))
        s.add(
            OAuthStateRow(
                state_hash=_digest(state),
                provider=provider,
                verifier=ctx.box.encrypt(verifier).decode() if verifier else None,
                tenant_name=tenant,
                expires_at=utcnow() + STATE_TTL,
            )
        )
        s.commit()
    return state


def _take_state(ctx: ServiceContext, provider: str) -> OAuthStateRow:
    """Consume the callback's state (single use); a missing, unknown or expired one is a 400."""
    error = request.args.get("error")
    if error:
        raise InputError(f"the CRM did not authorise the install: {error}")
    state, code = request.args.get("state"), request.args.get("code")
    if not state or not code:
        raise InputError("the callback lacks its code or state")
    with ctx.store.db.session() as s:
        row = s.get(OAuthStateRow, _digest(state))
        if row is None or row.provider != provider:
            raise InputError("unknown or already used OAuth state; start the install again")
        s.delete(row)
        s.commit()
    if row.expires_at < utcnow():
        raise InputError("the OAuth state expired; start the install again")
    return row


def _client_credentials(ctx: ServiceContext, provider: str) -> tuple[str, str]:
    settings = ctx.settings
    client_id = getattr(settings, f"{provider}_client_id")
    secret = getattr(settings, f"{provider}_client_secret")
    if not client_id or secret is None:
        raise ConfigError(
            f"FEEDBACKLOOP_{provider.upper()}_CLIENT_ID and _CLIENT_SECRET must be set to install the app"
        )
    return str(client_id), str(secret.get_secret_value())


def _page(title: str, lines: list[str]) -> Response:
    body = "".join(f"<p>{line}</p>" for line in lines)
    html = f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title></head>"
    return Response(f"{html}<body><h1>{escape(title)}</h1>{body}</body></html>", content_type="text/html")


@bp.get("/hubspot/install")
def hubspot_install() -> Response:
    ctx = service()
    client_id, _ = _client_credentials(ctx, "hubspot")
    query = {
        "client_id": client_id,
        "redirect_uri": _redirect_uri(ctx, "hubspot"),
        "scope": " ".join(HUBSPOT_SCOPES),
        "optional_scope": " ".join(HUBSPOT_OPTIONAL_SCOPES),
        "state": _new_state(ctx, "hubspot"),
    }
    return redirect(f"{_conf('FL_HUBSPOT_AUTHORIZE_URL')}?{urlencode(query)}", code=302)  # type: ignore[return-value]


@bp.get("/hubspot/callback")
def hubspot_callback() -> Response:
    from feedbackloop.connectors.hubspot.client import HubSpotClient
    from feedbackloop.connectors.hubspot.oauth import OAuthApp, exchange_code, store_connection

    ctx = service()
    row = _take_state(ctx, "hubspot")
    client_id, secret = _client_credentials(ctx, "hubspot")
    api = str(_conf("FL_HUBSPOT_API_URL"))
    client = HubSpotClient(lambda: "", base_url=api, tenant_key=f"oauth:{api}")
    tokens = exchange_code(
        client, OAuthApp(client_id, secret, _redirect_uri(ctx, "hubspot")), str(request.args["code"])
    )
    if tokens.hub_id is None:
        raise InputError("HubSpot did not say which portal was installed")
    name = row.tenant_name or f"hubspot-{tokens.hub_id}"
    tenant = store_connection(ctx.store, ctx.box, name, base_url=api, hub_id=tokens.hub_id, tokens=tokens)
    return _page(
        "feedbackloop is installed",
        [f"HubSpot portal {tokens.hub_id} is connected as tenant <b>{escape(tenant.name)}</b>."],
    )


@bp.get("/salesforce/install")
def salesforce_install() -> Response:
    from feedbackloop.connectors.salesforce.oauth import OAuthApp, Pkce

    ctx = service()
    client_id, secret = _client_credentials(ctx, "salesforce")
    pkce = Pkce.new()
    app = OAuthApp(client_id, _redirect_uri(ctx, "salesforce"), str(_conf("FL_SALESFORCE_LOGIN_URL")), secret)
    return redirect(app.authorization_url(_new_state(ctx, "salesforce", pkce.verifier), pkce), code=302)  # type: ignore[return-value]


@bp.get("/salesforce/callback")
def salesforce_callback() -> Response:
    from feedbackloop.connectors.salesforce.connect import connect_tenant
    from feedbackloop.connectors.salesforce.oauth import OAuthApp, Pkce
    from feedbackloop.webhooks.salesforce import new_outbound_secret

    ctx = service()
    row = _take_state(ctx, "salesforce")
    client_id, secret = _client_credentials(ctx, "salesforce")
    login_url, ca_bundle = str(_conf("FL_SALESFORCE_LOGIN_URL")), _conf("FL_SALESFORCE_CA_BUNDLE")
    app = OAuthApp(client_id, _redirect_uri(ctx, "salesforce"), login_url, secret, ca_bundle)
    verifier = ctx.box.decrypt(row.verifier.encode()) if row.verifier else ""
    tokens = app.exchange_code(str(request.args["code"]), Pkce(verifier, ""))
    tenant = connect_tenant(
        ctx.settings,
        ctx.store,
        row.tenant_name,
        tokens,
        ca_bundle=ca_bundle,
        extra={"login_url": login_url, "client_id": client_id},
        client_secret=secret,
    )
    outbound = (
        f"{ctx.settings.public_url.rstrip('/')}/webhooks/salesforce/{new_outbound_secret(ctx.store, tenant)}"
    )
    return _page(
        "feedbackloop is installed",
        [
            f"Salesforce org {escape(tenant.external_id or '')} is connected as tenant "
            f"<b>{escape(tenant.name)}</b>.",
            "Point the outbound message of your closed-opportunity flow at this URL (shown once):",
            f"<code>{escape(outbound)}</code>",
        ],
    )
