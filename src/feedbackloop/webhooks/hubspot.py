"""``POST /webhooks/hubspot``: verify (v3, raw bytes) → parse → store idempotently → answer at once.

A batch holds up to 100 events. Changes our own app made (``fl_*`` properties, or a change whose
source is our app) are acknowledged and dropped, as are events the worker has no use for; deal stage
changes are stored for the worker, which fetches the deal and decides whether it closed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify, request

from feedbackloop.errors import ConfigError, InputError, SignatureError
from feedbackloop.store import TenantRef
from feedbackloop.store.models import Tenant
from feedbackloop.store.repo import _ref
from feedbackloop.webhooks.context import service
from feedbackloop.webhooks.inbox import NewEvent, event_key
from feedbackloop.webhooks.requests import UnknownTenant, json_body, public_uri, require_content_type
from feedbackloop.webhooks.signature import verify_v3

__all__ = ["MAX_BATCH", "OWN_PREFIX", "bp", "is_own_change", "is_work", "parse_events"]

bp = Blueprint("hubspot_webhooks", __name__)

MAX_BATCH = 100
#: Our write-back properties all start with this prefix.
OWN_PREFIX = "fl_"
#: Deal properties whose change may mean the deal closed.
WORK_PROPERTIES = frozenset({"dealstage", "hs_is_closed", "hs_is_closed_won", "hs_is_closed_lost"})
_REQUIRED = ("portalId", "eventId", "subscriptionType", "occurredAt")


def hubspot_secret() -> str:
    secret = service().settings.hubspot_client_secret
    if secret is None:
        raise ConfigError("FEEDBACKLOOP_HUBSPOT_CLIENT_SECRET is not configured")
    return secret.get_secret_value()


def verify_request() -> None:
    """Verify the current request's v3 signature over its raw bytes (before anything parses it)."""
    ctx = service()
    verify_v3(
        hubspot_secret(),
        request.method,
        public_uri(ctx.settings.public_url),
        request.get_data(cache=True),
        request.headers.get("X-HubSpot-Request-Timestamp"),
        request.headers.get("X-HubSpot-Signature-v3"),
        clock=ctx.clock,
    )


def parse_events(data: Any) -> list[dict[str, Any]]:
    """A validated list of 1–100 event objects, or :class:`InputError`."""
    if not isinstance(data, list) or not data:
        raise InputError("expected a non-empty JSON array of events")
    if len(data) > MAX_BATCH:
        raise InputError(f"a batch holds at most {MAX_BATCH} events")
    for event in data:
        if not isinstance(event, dict):
            raise InputError("every event must be a JSON object")
        missing = [k for k in _REQUIRED if event.get(k) is None]
        if missing:
            raise InputError(f"an event lacks {', '.join(missing)}")
        if not isinstance(event["portalId"], int) or isinstance(event["portalId"], bool):
            raise InputError("portalId must be an integer")
        if not isinstance(event["subscriptionType"], str) or not event["subscriptionType"]:
            raise InputError("subscriptionType must be a non-empty string")
    return data


def is_own_change(event: dict[str, Any]) -> bool:
    """A change our own app made: an ``fl_*`` property, or a change sourced by our app id."""
    if str(event.get("propertyName") or "").startswith(OWN_PREFIX):
        return True
    app_id = event.get("appId")
    source = str(event.get("sourceId") or "")
    change_source = str(event.get("changeSource") or "").upper()
    return bool(app_id) and change_source in {"INTEGRATION", "API"} and str(app_id) in source.split(":")


def is_work(event: dict[str, Any]) -> bool:
    """A deal stage change (legacy ``deal.propertyChange`` or generic on object type 0-3)."""
    kind = event["subscriptionType"]
    is_deal = kind.startswith("deal.") or (
        kind.startswith("object.") and str(event.get("objectTypeId")) == "0-3"
    )
    return (
        is_deal
        and kind.endswith(".propertyChange")
        and event.get("propertyName") in WORK_PROPERTIES
        and event.get("objectId") is not None
    )


def key_of(event: dict[str, Any]) -> str:
    """eventId alone is not unique (reference §8.2); attemptNumber must not make a retry look new."""
    return event_key(
        event.get("portalId"),
        event.get("subscriptionId"),
        event.get("eventId"),
        event.get("objectId"),
        event.get("occurredAt"),
        event.get("propertyName"),
        event.get("propertyValue"),
    )


def _tenants(portals: set[int]) -> dict[int, TenantRef]:
    with service().store.db.session() as s:
        rows = s.scalars(
            sa.select(Tenant).where(
                Tenant.provider == "hubspot", Tenant.external_id.in_([str(p) for p in portals])
            )
        )
        return {int(str(t.external_id)): _ref(t) for t in rows}


@bp.post("/webhooks/hubspot")
def receive() -> Response:
    ctx = service()
    try:
        verify_request()
    except SignatureError:
        ctx.metrics.webhook_events.labels("hubspot", "rejected").inc()
        raise
    require_content_type("application/json")
    events = parse_events(json_body(request.get_data(cache=True)))
    tenants = _tenants({e["portalId"] for e in events})
    unknown = {e["portalId"] for e in events} - set(tenants)
    if unknown:
        ctx.metrics.webhook_events.labels("hubspot", "rejected").inc(len(events))
        raise UnknownTenant(f"unknown portal(s): {', '.join(map(str, sorted(unknown)))}")
    work = [e for e in events if not is_own_change(e) and is_work(e)]
    ignored = len(events) - len(work)
    stored = [
        NewEvent(tenants[e["portalId"]], key_of(e), {k: v for k, v in e.items() if k != "attemptNumber"})
        for e in work
    ]
    accepted, duplicates = ctx.inbox.add("hubspot", stored)
    metric = ctx.metrics.webhook_events
    metric.labels("hubspot", "accepted").inc(accepted)
    metric.labels("hubspot", "duplicate").inc(duplicates)
    metric.labels("hubspot", "ignored").inc(ignored)
    return jsonify({"accepted": accepted, "duplicates": duplicates, "ignored": ignored})
