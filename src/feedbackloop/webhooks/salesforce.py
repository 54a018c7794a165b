"""``POST /webhooks/salesforce/<secret>``: Salesforce outbound messages at a per-tenant secret URL.

Salesforce signs nothing (reference §8.1), so a request is authentic when the unguessable secret in its
path matches a tenant's (stored as a SHA-256 only, compared in constant time) and its OrganizationId is
that tenant's org. Notifications are stored idempotently by their id and the Ack is returned at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa
from flask import Blueprint, Response, request

from feedbackloop.errors import UsageError
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import Tenant
from feedbackloop.store.repo import _ref
from feedbackloop.webhooks.context import service
from feedbackloop.webhooks.inbox import NewEvent, event_key
from feedbackloop.webhooks.requests import Forbidden, UnknownTenant, require_content_type
from feedbackloop.webhooks.soap import ACK, parse_outbound

__all__ = [
    "SECRET_SETTING",
    "bp",
    "new_outbound_secret",
    "same_org",
    "set_outbound_secret",
    "tenant_for_secret",
]

bp = Blueprint("salesforce_outbound", __name__)

#: The tenant setting holding the SHA-256 (hex) of the outbound-message URL secret.
SECRET_SETTING = "outbound_secret_sha256"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_outbound_secret(store: Store, tenant: TenantRef) -> str:
    """Give a tenant a fresh URL secret; returns it (shown once; only its hash is kept)."""
    secret = secrets.token_urlsafe(32)
    set_outbound_secret(store, tenant, secret)
    return secret


def set_outbound_secret(store: Store, tenant: TenantRef, secret: str) -> None:
    """Make ``secret`` the tenant's URL secret (keeping only its hash)."""
    if len(secret) < 16:
        raise UsageError("an outbound-message secret needs at least 16 characters")
    store.update_tenant(tenant, settings={**tenant.settings, SECRET_SETTING: _digest(secret)})


def tenant_for_secret(store: Store, secret: str) -> TenantRef | None:
    """The Salesforce tenant whose URL secret this is (every candidate compared in constant time)."""
    digest = _digest(secret)
    found: TenantRef | None = None
    with store.db.session() as s:
        for row in s.scalars(sa.select(Tenant).where(Tenant.provider == "salesforce")):
            stored = str((row.settings or {}).get(SECRET_SETTING) or "")
            if stored and hmac.compare_digest(stored.encode(), digest.encode()):
                found = _ref(row)
    return found


def same_org(a: str | None, b: str | None) -> bool:
    """Org ids match in their 15-character case-sensitive form (the 18-character form adds a checksum)."""
    if not a or not b or len(a) < 15 or len(b) < 15:
        return False
    return hmac.compare_digest(a[:15].encode(), b[:15].encode())


@bp.post("/webhooks/salesforce/<secret>")
def receive(secret: str) -> Response:
    ctx = service()
    tenant = tenant_for_secret(ctx.store, secret)
    if tenant is None:
        ctx.metrics.webhook_events.labels("salesforce", "rejected").inc()
        raise UnknownTenant("no tenant has this outbound-message URL")
    require_content_type("text/xml", "application/soap+xml", "application/xml")
    message = parse_outbound(request.get_data(cache=True))
    if not same_org(message.organization_id, tenant.external_id):
        ctx.metrics.webhook_events.labels("salesforce", "rejected").inc()
        raise Forbidden("the OrganizationId is not this tenant's org")
    events = [
        NewEvent(
            tenant,
            event_key("salesforce", n.id),
            {
                "notification_id": n.id,
                "organization_id": message.organization_id,
                "object_type": n.object_type,
                "deal_id": n.fields["Id"],
                "fields": n.fields,
            },
        )
        for n in message.notifications
    ]
    accepted, duplicates = ctx.inbox.add("salesforce", events)
    ctx.metrics.webhook_events.labels("salesforce", "accepted").inc(accepted)
    ctx.metrics.webhook_events.labels("salesforce", "duplicate").inc(duplicates)
    return Response(ACK, status=200, content_type="text/xml; charset=utf-8")
