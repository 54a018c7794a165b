"""The sandbox's own control API under ``/_sandbox`` (not HubSpot's; not counted, limited or faulted)."""

from __future__ import annotations

import itertools
from typing import Any

from flask import Blueprint, Response, jsonify, request

from feedbackloop.sandbox.faults import CallStats, FaultInjector
from feedbackloop.sandbox.hubspot.events import SUBSCRIPTIONS, WebhookSender
from feedbackloop.sandbox.hubspot.limiter import RollingLimiter
from feedbackloop.sandbox.hubspot.portal import Portal
from feedbackloop.sandbox.hubspot.wire import HubSpotError, ms

__all__ = ["admin_blueprint", "advance", "truth"]

_event_ids = itertools.count(3_000_000_001)


def truth(portal: Portal) -> dict[str, Any]:
    """``world.truth_summary()`` with template keys as the portal shows them (``hs_template_id``)."""
    with portal.lock:
        summary = dict(portal.world.truth_summary())
        templates = summary.get("templates")
        if isinstance(templates, dict):
            summary["templates"] = {portal.ids.hs("template", k): v for k, v in templates.items()}
    return summary


def advance(portal: Portal, days: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Move the world on; returns a summary and the webhook events the changes raise."""
    o = portal.options
    with portal.lock:
        before = {rid: r.props.get("dealstage") for rid, r in portal.built().tables["deals"].by_id.items()}
        step = portal.world.advance(days)
        deals = portal.built().tables["deals"].by_id
        new_ids = {portal.ids.hs("deal", d) for d in step.new_deal_ids}
        events: list[dict[str, Any]] = []
        base = {"portalId": o.hub_id, "appId": o.app_id, "changeSource": "CRM_UI", "attemptNumber": 0}
        for rid in sorted((i for i in new_ids if i is not None), key=int):
            record = deals.get(str(rid))
            if record is not None:
                events.append(
                    {
                        **base,
                        "eventId": next(_event_ids),
                        "subscriptionId": SUBSCRIPTIONS[("deal.creation", None)],
                        "occurredAt": record.created,
                        "subscriptionType": "deal.creation",
                        "objectId": int(record.id),
                        "changeFlag": "CREATED",
                    }
                )
        for rid, record in deals.items():
            stage = record.props.get("dealstage")
            if stage == before.get(rid):
                continue
            when = ms(record.props.get("hs_v2_date_entered_current_stage")) or record.updated
            events.append(
                {
                    **base,
                    "eventId": next(_event_ids),
                    "subscriptionId": SUBSCRIPTIONS[("deal.propertyChange", "dealstage")],
                    "occurredAt": when,
                    "subscriptionType": "deal.propertyChange",
                    "objectId": int(rid),
                    "propertyName": "dealstage",
                    "propertyValue": stage,
                    "sourceId": f"userId:{record.props.get('hubspot_owner_id') or 0}",
                }
            )
        summary = {
            "start": str(step.start),
            "end": str(step.end),
            "new_deals": len(step.new_deal_ids),
            "closed_deals": len(step.closed_deal_ids),
            "changed_deals": len(step.changed_deal_ids),
            "events": len(events),
        }
    return summary, events


def admin_blueprint(
    portal: Portal,
    stats: CallStats,
    faults: FaultInjector,
    limiters: list[RollingLimiter],
    sender: WebhookSender | None,
) -> Blueprint:
    bp = Blueprint("hubspot_admin", __name__, url_prefix="/_sandbox")

    @bp.get("/stats")
    def get_stats() -> Response:
        return jsonify(stats.snapshot())

    @bp.get("/truth")
    def get_truth() -> Response:
        return jsonify(truth(portal))

    @bp.post("/advance")
    def post_advance() -> Response:
        body = request.get_json(silent=True) or {}
        try:
            days = float(body.get("days", 1))
        except (TypeError, ValueError):
            raise HubSpotError(400, "'days' must be a number") from None
        if days <= 0:
            raise HubSpotError(400, "'days' must be positive")
        summary, events = advance(portal, days)
        if sender is not None and events:
            sender.submit(events)
        return jsonify(summary)

    @bp.get("/faults")
    def get_faults() -> Response:
        return jsonify(faults.snapshot())

    @bp.post("/faults")
    def post_faults() -> Response:
        body = request.get_json(silent=True) or {}
        try:
            faults.configure(float(body.get("rate", 0.0)), body.get("kinds"), body.get("slow_seconds"))
        except (TypeError, ValueError) as exc:
            raise HubSpotError(400, str(exc)) from None
        return jsonify(faults.snapshot())

    @bp.get("/webhooks")
    def get_webhooks() -> Response:
        return jsonify(sender.snapshot() if sender else {"url": None})

    @bp.post("/reset")
    def post_reset() -> Response:
        portal.reset()
        stats.reset()
        faults.configure(0.0)
        for limiter in limiters:
            limiter.reset()
        return jsonify({"status": "reset", "now": str(portal.world.now)})

    return bp
