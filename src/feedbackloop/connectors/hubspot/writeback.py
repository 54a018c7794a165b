"""``write_back(plan)``: deal properties by ``batch/update`` (100 per call), template records by upsert.

Per-record failures come back as a 207 with ``errors[].context.ids``; those records are sent again
(once, in their own batch) and reported in ``failures`` if they still fail. A whole call failing with a
4xx (one bad id can sink a batch) is split in halves until the bad records stand alone. The modification
time HubSpot returns for each written deal is kept (``self_writes``) so that the next sync knows the
change was ours.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from feedbackloop.connectors.base import DealWriteBack, SkippedRecord, TemplateScoreRecord, WriteBackPlan
from feedbackloop.connectors.hubspot.client import HubSpotClient
from feedbackloop.connectors.hubspot.install import TEMPLATE_ID_PROPERTY
from feedbackloop.connectors.hubspot.mapping import to_ms
from feedbackloop.errors import ConnectorError, RemoteError

__all__ = ["WRITE_BATCH", "WriteResult", "deal_properties", "template_properties", "write_plan"]

WRITE_BATCH = 100


@dataclass
class WriteResult:
    """What one write-back did: records written, failures, and the modification times of written deals."""

    updated: int = 0
    failures: list[SkippedRecord] = field(default_factory=list)
    self_writes: dict[str, int] = field(default_factory=dict)
    templates_skipped: str | None = None


def _num(value: float | None) -> str:
    """A number as HubSpot takes it; empty (clears the value) for None, NaN and infinities."""
    return "" if value is None or not math.isfinite(value) else repr(float(value))


def deal_properties(deal: DealWriteBack, scored_at_ms: int) -> dict[str, str]:
    """The ``fl_*`` values of one deal (empty string clears a value, reference §4)."""
    return {
        "fl_template_scores": deal.template_scores[:65_000],
        "fl_deprecated_templates_used": deal.deprecated_templates_used[:65_000],
        "fl_recommended_next_template": deal.recommended_next_template or "",
        "fl_recommended_score": _num(deal.recommended_score),
        "fl_last_scored_at": str(scored_at_ms),
    }


def template_properties(record: TemplateScoreRecord) -> dict[str, str]:
    return {
        TEMPLATE_ID_PROPERTY: record.template_id,
        "fl_name": record.name or record.template_id,
        "fl_score": _num(record.score),
        "fl_score_se": _num(record.score_se),
        "fl_win_rate": _num(record.win_rate),
        "fl_ci_low": _num(record.ci_low),
        "fl_ci_high": _num(record.ci_high),
        "fl_status": record.status,
        "fl_deals": str(int(record.deals)),
    }


def _failed_ids(response: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for error in getattr(response, "errors", None) or []:
        context = getattr(error, "context", None) or {}
        message = str(getattr(error, "message", "") or getattr(error, "category", "") or "rejected")[:200]
        for rid in context.get("ids") or context.get("id") or []:
            out[str(rid)] = message
    return out


Sender = Callable[[list[tuple[str, dict[str, str]]]], Any]


def _send(
    send: Sender,
    items: list[tuple[str, dict[str, str]]],
    result: WriteResult,
    kind: str,
    key: Callable[[Any], str],
) -> dict[str, str]:
    """Send one batch; the ids that failed (with reasons). Splits batches a 4xx rejects as a whole."""
    try:
        response = send(items)
    except RemoteError as exc:
        if exc.status is None or not 400 <= exc.status < 500 or exc.status == 429:
            return {rid: str(exc) for rid, _ in items}
        if len(items) == 1:
            return {items[0][0]: str(exc)}
        half = len(items) // 2
        return {
            **_send(send, items[:half], result, kind, key),
            **_send(send, items[half:], result, kind, key),
        }
    except ConnectorError as exc:
        return {rid: str(exc) for rid, _ in items}
    failed = _failed_ids(response)
    asked = {rid for rid, _ in items}
    for record in getattr(response, "results", None) or []:
        rid = key(record)
        if rid in asked and rid not in failed:
            result.updated += 1
            if kind == "deal":
                when = to_ms(getattr(record, "updated_at", None))
                if when is not None:
                    result.self_writes[rid] = when
    return failed


def _write_all(
    send: Sender,
    items: list[tuple[str, dict[str, str]]],
    result: WriteResult,
    kind: str,
    key: Callable[[Any], str],
) -> None:
    failed: dict[str, str] = {}
    for start in range(0, len(items), WRITE_BATCH):
        failed.update(_send(send, items[start : start + WRITE_BATCH], result, kind, key))
    if failed:  # one more try for the per-record failures, in their own batches
        again = [item for item in items if item[0] in failed]
        still: dict[str, str] = {}
        for start in range(0, len(again), WRITE_BATCH):
            still.update(_send(send, again[start : start + WRITE_BATCH], result, kind, key))
        result.failures.extend(SkippedRecord(kind, rid, reason) for rid, reason in sorted(still.items()))


def write_plan(client: HubSpotClient, plan: WriteBackPlan, template_object: str | None) -> WriteResult:
    """Write every deal value and template record of ``plan``."""
    result = WriteResult()
    scored_ms = to_ms(plan.scored_at) or 0
    deals_api = client.api("crm.deals.batch_api")

    def send_deals(items: list[tuple[str, dict[str, str]]]) -> Any:
        body = {"inputs": [{"id": rid, "properties": props} for rid, props in items]}
        return client.call(
            "deal write-back",
            lambda t: deals_api.update(batch_input_simple_public_object_batch_input=body, _request_timeout=t),
        )

    deal_items = [(d.deal_id, deal_properties(d, scored_ms)) for d in plan.deals]
    _write_all(send_deals, deal_items, result, "deal", lambda r: str(r.id))
    if not plan.templates:
        return result
    if template_object is None:
        result.templates_skipped = "no template-score custom object on this portal (see install)"
        return result
    objects_api = client.api("crm.objects.batch_api")

    def send_templates(items: list[tuple[str, dict[str, str]]]) -> Any:
        body = {
            "inputs": [
                {"id": rid, "idProperty": TEMPLATE_ID_PROPERTY, "properties": props} for rid, props in items
            ]
        }
        return client.call(
            "template write-back",
            lambda t: objects_api.upsert(
                object_type=template_object,
                batch_input_simple_public_object_batch_input_upsert=body,
                _request_timeout=t,
            ),
        )

    template_items = [(t.template_id, template_properties(t)) for t in plan.templates]
    _write_all(
        send_templates,
        template_items,
        result,
        "template",
        lambda r: str((getattr(r, "properties", None) or {}).get(TEMPLATE_ID_PROPERTY) or r.id),
    )
    return result
