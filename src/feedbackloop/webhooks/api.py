"""The selection API (per-tenant API keys, ``Authorization: Bearer <key>``).

- ``POST /api/v1/select`` ``{context: {segment, position, prospect_id|deal_id}}`` → ``{template_id, reason}``;
- ``POST /api/v1/outcomes`` ``{deal_id, outcome: won|lost, templates: [...], context?}`` → ``{learned}``;
- ``POST /api/v1/responses`` ``{template_id, sentiment, meeting_intent, context?}`` → ``{boosted}``.

Each call uses the tenant's ``ContinuousOptimizer`` from an in-process cache that reloads it when the
stored state changed (:mod:`feedbackloop.webhooks.optimizers`); the two learning calls save it at once,
selections at most once a second, under a per-tenant lock so concurrent requests lose no update.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from feedbackloop.errors import EngineError, InputError
from feedbackloop.store import TenantRef
from feedbackloop.webhooks.apikeys import authenticate
from feedbackloop.webhooks.context import service
from feedbackloop.webhooks.optimizers import OptimizerCache
from feedbackloop.webhooks.requests import Unauthorized, json_body, require_content_type

__all__ = ["bp"]

bp = Blueprint("api", __name__, url_prefix="/api/v1")
_LOCKS: defaultdict[int, threading.Lock] = defaultdict(threading.Lock)
_OPTIMIZERS = OptimizerCache()


def _tenant() -> TenantRef:
    header = request.headers.get("Authorization", "")
    scheme, _, key = header.partition(" ")
    tenant = authenticate(service().store, key.strip()) if scheme.lower() == "bearer" else None
    if tenant is None:
        raise Unauthorized("a valid API key is required (Authorization: Bearer fl_…)")
    return tenant


def _body() -> dict[str, Any]:
    require_content_type("application/json")
    data = json_body(request.get_data(cache=True))
    if not isinstance(data, dict):
        raise InputError("expected a JSON object")
    return data


def _context(data: dict[str, Any]) -> dict[str, Any]:
    context = data.get("context") or {}
    if not isinstance(context, dict):
        raise InputError("context must be an object")
    return {
        str(k): v for k, v in context.items() if isinstance(v, str | int | float) and not isinstance(v, bool)
    }


def _now() -> datetime:
    return datetime.fromtimestamp(service().clock(), UTC)


@bp.post("/select")
def select() -> Response:
    tenant = _tenant()
    data = _body()
    with _LOCKS[tenant.id]:
        optimizer = _OPTIMIZERS.get(service().store, tenant)
        if not optimizer.template_ids:
            raise InputError("this tenant has no templates yet")
        try:
            chosen = optimizer.explain_selection(_context(data), _now())
        except EngineError as exc:
            raise InputError(str(exc)) from None
        _OPTIMIZERS.save(service().store, tenant, now=False)  # only the RNG moved: save now and then
    return jsonify({"template_id": chosen.template_id, "source": chosen.source, "reason": chosen.reason})


@bp.post("/outcomes")
def outcomes() -> Response:
    tenant = _tenant()
    data = _body()
    deal_id, outcome, templates = data.get("deal_id"), data.get("outcome"), data.get("templates")
    if not isinstance(deal_id, str | int) or outcome not in ("won", "lost"):
        raise InputError("expected deal_id and outcome (won or lost)")
    if not isinstance(templates, list) or not templates or not all(isinstance(t, str) for t in templates):
        raise InputError("expected templates: the template ids the deal received")
    context = {**_context(data), "deal_id": str(deal_id)}
    with _LOCKS[tenant.id]:
        optimizer = _OPTIMIZERS.get(service().store, tenant)
        learned = [t for t in templates if optimizer.update_on_outcome(t, outcome == "won", context, _now())]
        _OPTIMIZERS.save(service().store, tenant)
    return jsonify({"learned": learned})


@bp.post("/responses")
def responses() -> Response:
    tenant = _tenant()
    data = _body()
    template_id, sentiment = data.get("template_id"), data.get("sentiment")
    if (
        not isinstance(template_id, str)
        or not isinstance(sentiment, int | float)
        or isinstance(sentiment, bool)
    ):
        raise InputError("expected template_id and a numeric sentiment")
    if not -1.0 <= float(sentiment) <= 1.0:
        raise InputError("sentiment must be between -1 and 1")
    with _LOCKS[tenant.id]:
        optimizer = _OPTIMIZERS.get(service().store, tenant)
        boosted = optimizer.on_response(
            template_id, float(sentiment), bool(data.get("meeting_intent")), _context(data), _now()
        )
        _OPTIMIZERS.save(service().store, tenant)
    return jsonify({"boosted": boosted})
