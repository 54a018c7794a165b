"""The sandbox's own control API under ``/_sandbox`` (not HubSpot's; not counted, limited or faulted)."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Blueprint, Response, jsonify, request

from feedbackloop.errors import FeedbackloopError
from feedbackloop.sandbox.hubspot.events import SUBSCRIPTIONS
from feedbackloop.sandbox.hubspot.portal import Portal
from feedbackloop.sandbox.hubspot.wire import HubSpotError, ms

if TYPE_CHECKING:
    from feedbackloop.sandbox.hubspot.app import HubSpotSandbox

__all__ = ["AdvanceListener", "admin_blueprint", "advance", "deal_events", "deal_snapshot", "truth"]

_event_ids = itertools.count(3_000_000_001)


def truth(portal: Portal) -> dict[str, Any]:
    """``world.truth_summary()`` with template keys as the portal shows them (``hs_template_id``)."""
    with portal.lock:
        summary = dict(portal.world.truth_summary())
        templates = summary.get("templates")
        if isinstance(templates, dict):
            summary["templates"] = {portal.ids.hs("template", k): v for k, v in templates.items()}
    return summary


WATCHED = tuple(name for kind, name in SUBSCRIPTIONS if kind == "deal.propertyChange" and name)


def deal_snapshot(portal: Portal) -> dict[str, tuple[str | None, ...]]:
    """Subscribed properties of every deal as the portal last built it (take it before the world moves)."""
    with portal.lock:
        deals = portal.built().tables["deals"].by_id
        return {rid: tuple(r.props.get(n) for n in WATCHED) for rid, r in deals.items()}


def deal_events(portal: Portal, step: Any, before: dict[str, tuple[str | None, ...]]) -> list[dict[str, Any]]:
    """``deal.creation`` and ``deal.propertyChange`` events (one per subscribed property that changed)."""
    o = portal.options
    base = {"portalId": o.hub_id, "appId": o.app_id, "changeSource": "CRM_UI", "attemptNumber": 0}
    events: list[dict[str, Any]] = []
    with portal.lock:
        deals = portal.built().tables["deals"].by_id
        new_ids = sorted((i for i in (portal.ids.hs("deal", d) for d in step.new_deal_ids) if i), key=int)
        for rid in new_ids:
            record = deals.get(rid)
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
        empty = (None,) * len(WATCHED)
        for rid, record in deals.items():
            old = before.get(rid, empty)
            for name, previous in zip(WATCHED, old, strict=True):
                value = record.props.get(name)
                if value == previous:
                    continue
                when = ms(record.props.get("hs_v2_date_entered_current_stage")) or record.updated
                events.append(
                    {
                        **base,
                        "eventId": next(_event_ids),
                        "subscriptionId": SUBSCRIPTIONS[("deal.propertyChange", name)],
                        "occurredAt": when,
                        "subscriptionType": "deal.propertyChange",
                        "objectId": int(rid),
                        "propertyName": name,
                        "propertyValue": value or "",
                        "sourceId": f"userId:{record.props.get('hubspot_owner_id') or 0}",
                    }
                )
    return events


AdvanceListener = Callable[[Any, Any], Any]


def advance(
    portal: Portal, days: float, listeners: list[AdvanceListener] | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Move the shared world on; returns a summary and the webhook events the changes raise.

    ``listeners`` (e.g. the Salesforce sandbox's ``on_advance``) are called with ``(step, day_before)``
    so that every sandbox on the same world reacts to one advance.
    """
    before = deal_snapshot(portal)
    with portal.lock:
        day_before = portal.world.now.date()
        step = portal.world.advance(days)
    events = deal_events(portal, step, before)
    for listener in listeners or []:
        listener(step, day_before)
    summary = {
        "start": str(step.start),
        "end": str(step.end),
        "new_deals": len(step.new_deal_ids),
        "closed_deals": len(step.closed_deal_ids),
        "changed_deals": len(step.changed_deal_ids),
        "events": len(events),
    }
    return summary, events


def admin_blueprint(sandbox: HubSpotSandbox) -> Blueprint:
    bp = Blueprint("hubspot_admin", __name__, url_prefix="/_sandbox")

    @bp.get("/stats")
    def get_stats() -> Response:
        return jsonify(sandbox.stats.snapshot())

    @bp.get("/truth")
    def get_truth() -> Response:
        return jsonify(truth(sandbox.portal))

    @bp.post("/advance")
    def post_advance() -> Response:
        body = request.get_json(silent=True) or {}
        try:
            days = float(body.get("days", 1))
        except (TypeError, ValueError):
            raise HubSpotError(400, "'days' must be a number") from None
        if days <= 0:
            raise HubSpotError(400, "'days' must be positive")
        try:
            return jsonify(sandbox.advance(days))
        except FeedbackloopError as exc:  # e.g. past the end of the simulated future
            raise HubSpotError(400, str(exc)) from None

    @bp.get("/faults")
    def get_faults() -> Response:
        return jsonify(sandbox.faults.snapshot())

    @bp.post("/faults")
    def post_faults() -> Response:
        body = request.get_json(silent=True) or {}
        try:
            sandbox.faults.configure(
                float(body.get("rate", 0.0)), body.get("kinds"), body.get("slow_seconds")
            )
        except (TypeError, ValueError) as exc:
            raise HubSpotError(400, str(exc)) from None
        return jsonify(sandbox.faults.snapshot())

    @bp.get("/limits")
    def get_limits() -> Response:
        return jsonify({"burst_limit": sandbox.burst.limit, "search_limit": sandbox.search.limit})

    @bp.post("/limits")
    def post_limits() -> Response:
        """Change the rate limits at run time (benchmarks, bulk loads); HubSpot's are 110 / 10 s and 5 / s."""
        body = request.get_json(silent=True) or {}
        for name, limiter in (("burst_limit", sandbox.burst), ("search_limit", sandbox.search)):
            if name in body:
                value = body[name]
                if not isinstance(value, int) or value < 1:
                    raise HubSpotError(400, f"{name} must be a positive integer")
                limiter.limit = value
        return get_limits()

    @bp.get("/webhooks")
    def get_webhooks() -> Response:
        return jsonify(sandbox.webhooks.snapshot() if sandbox.webhooks else {"url": None})

    @bp.post("/reset")
    def post_reset() -> Response:
        sandbox.reset()
        return jsonify({"status": "reset", "now": str(sandbox.portal.world.now)})

    return bp
