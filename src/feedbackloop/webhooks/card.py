"""``GET /hubspot/card``: the data behind the HubSpot app card on a deal record (reference §10.2).

The card's ``hubspot.fetch`` call is v3-signed like webhooks (GET: the body is empty) and HubSpot adds
``portalId`` and ``userId`` to the query. The answer: the template scores for the deal's segment (the
segment's top templates first) and the templates the deal itself received, from the tenant's latest
analysis. A deal or an analysis that does not exist yet is a status, not an error.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify, request

from feedbackloop.errors import InputError, SignatureError
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import AnalysisRun, DealRow, MessageRow, Tenant
from feedbackloop.store.repo import _ref
from feedbackloop.webhooks.context import service
from feedbackloop.webhooks.hubspot import verify_request
from feedbackloop.webhooks.requests import UnknownTenant

__all__ = ["MAX_TEMPLATES", "bp", "card_data"]

bp = Blueprint("hubspot_card", __name__)

MAX_TEMPLATES = 10
_RECORD_PARAMS = ("dealId", "hs_object_id", "associatedObjectId", "objectId")
_FIELDS = ("template_id", "name", "score", "win_rate", "ci_low", "ci_high", "deals", "status", "action")


def _latest_result(store: Store, tenant: TenantRef) -> dict[str, Any] | None:
    with store.db.session() as s:
        row = s.scalar(
            sa.select(AnalysisRun)
            .where(AnalysisRun.tenant_id == tenant.id, AnalysisRun.kind == "analyze")
            .order_by(AnalysisRun.id.desc())
            .limit(1)
        )
        return dict(row.result) if row is not None and row.result else None


def _row(template: dict[str, Any]) -> dict[str, Any]:
    return {k: template.get(k) for k in _FIELDS}


def card_data(store: Store, tenant: TenantRef, deal_id: str) -> dict[str, Any]:
    """Scores for the deal's segment and for the templates the deal received."""
    with store.db.session() as s:
        deal = s.get(DealRow, (tenant.id, deal_id))
        received = list(
            s.execute(
                sa.select(MessageRow.template_id, sa.func.min(MessageRow.position))
                .where(
                    MessageRow.tenant_id == tenant.id,
                    MessageRow.deal_id == deal_id,
                    MessageRow.template_id.is_not(None),
                )
                .group_by(MessageRow.template_id)
                .order_by(sa.func.min(MessageRow.position))
            ).all()
        )
    segment = deal.segment if deal is not None else None
    result = _latest_result(store, tenant)
    out: dict[str, Any] = {
        "deal_id": deal_id,
        "segment": segment,
        "outcome": deal.outcome if deal is not None else None,
        "as_of": None,
        "status": "no_analysis",
        "segment_templates": [],
        "deal_templates": [],
    }
    if result is None:
        out["deal_templates"] = [{"template_id": t, "position": p} for t, p in received]
        return out
    rows = {str(t["template_id"]): t for t in result.get("templates", []) if isinstance(t, dict)}
    tops = ((result.get("segments") or {}).get("top_templates") or {}).get(segment or "", [])
    preferred = [
        str(r["template_id"]) for r in tops if isinstance(r, dict) and str(r.get("template_id")) in rows
    ]
    by_score = sorted(
        (t for t in rows if t not in preferred and rows[t].get("score") is not None),
        key=lambda t: -float(rows[t]["score"]),
    )
    out.update(
        as_of=result.get("as_of"),
        status="ok",
        segment_templates=[_row(rows[t]) for t in [*preferred, *by_score][:MAX_TEMPLATES]],
        deal_templates=[{**_row(rows.get(str(t), {"template_id": t})), "position": p} for t, p in received],
    )
    return out


@bp.get("/hubspot/card")
def card() -> Response:
    try:
        verify_request()
    except SignatureError:
        service().metrics.webhook_events.labels("hubspot_card", "rejected").inc()
        raise
    portal = request.args.get("portalId", "")
    deal_id = next((request.args[p] for p in _RECORD_PARAMS if request.args.get(p)), None)
    if not portal.isdigit() or deal_id is None:
        raise InputError("expected portalId and the deal's id (dealId or hs_object_id) in the query")
    with service().store.db.session() as s:
        row = s.scalar(sa.select(Tenant).where(Tenant.provider == "hubspot", Tenant.external_id == portal))
        tenant = _ref(row) if row is not None else None
    if tenant is None:
        raise UnknownTenant(f"portal {portal} is not installed")
    return jsonify(card_data(service().store, tenant, deal_id))
