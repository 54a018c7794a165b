"""Write-back: from the latest analysis to the values each CRM record should show, sending only changes.

The plan has one record per template (score, interval, status, sample size) and one per deal that
received a scored template (its templates' scores and statuses, the deprecated ones it got) or, for open
deals, the recommended next template for its segment and step. A hash of each record's values is kept
in ``writeback_state`` after a successful write, so a second run with no score changes sends nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from feedbackloop.connectors.base import (
    Connector,
    DealWriteBack,
    OpenDeal,
    SupportsOpenDeals,
    TemplateScoreRecord,
    WriteBackPlan,
)
from feedbackloop.store import Store, TenantRef, utcnow
from feedbackloop.store.models import WriteBackStateRow
from feedbackloop.store.upsert import upsert_rows

__all__ = ["WriteBackSummary", "build_plan", "filter_changed", "record_key", "run_writeback"]

DEPRECATED = "deprecated"


@dataclass
class WriteBackSummary:
    """``{"updated": N, "unchanged": N, "failed": N, "api_calls": N}`` (+ ``dry_run``, failures)."""

    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    api_calls: int = 0
    dry_run: bool = False
    would_update: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "api_calls": self.api_calls,
        }
        if self.dry_run:
            out |= {"dry_run": True, "would_update": self.would_update}
        if self.failures:
            out["failures"] = self.failures
        return out


def record_key(kind: str, record_id: str) -> str:
    return f"{kind}:{record_id}"


def _fmt_score(score: Any) -> str:
    return "n/a" if score is None else f"{float(score):+.2f}"


def _received(received: list[str], rows: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """A deal's templates as ``name: score (status)`` and the names of the deprecated ones."""
    names = {t: rows[t].get("name") or t for t in received}
    scores = "; ".join(
        f"{names[t]}: {_fmt_score(rows[t].get('score'))} ({rows[t].get('status') or 'active'})"
        for t in received
    )
    deprecated = "; ".join(names[t] for t in received if rows[t].get("status") == DEPRECATED)
    return scores, deprecated


def _template_positions(messages: pd.DataFrame) -> dict[str, int]:
    """Each template's usual sequence step (the most frequent position it was sent at)."""
    m = messages.dropna(subset=["template_id", "position"])
    if m.empty:
        return {}
    modes = m.groupby("template_id")["position"].agg(lambda s: int(s.mode().iloc[0]))
    return {str(k): int(v) for k, v in modes.items()}


def _recommend(
    deal: OpenDeal,
    templates: dict[str, dict[str, Any]],
    positions: dict[str, int],
    by_segment: dict[str, list[str]],
) -> tuple[str | None, float | None]:
    """Best non-deprecated template for the deal's segment and next step (segment winners first)."""
    candidates = [
        t
        for t, row in templates.items()
        if row.get("status") != DEPRECATED
        and row.get("score") is not None
        and (deal.next_position is None or positions.get(t) == deal.next_position)
    ]
    if not candidates:
        return None, None
    preferred = [t for t in by_segment.get(deal.segment or "", []) if t in candidates]
    best = preferred[0] if preferred else max(candidates, key=lambda t: float(templates[t]["score"]))
    return best, float(templates[best]["score"])


def _segment_tops(result: dict[str, Any]) -> dict[str, list[str]]:
    segments = result.get("segments") or {}
    tops = segments.get("top_templates") if isinstance(segments, dict) else None
    out: dict[str, list[str]] = {}
    if isinstance(tops, dict):
        for segment, rows in tops.items():
            out[str(segment)] = [
                str(r["template_id"]) for r in rows if isinstance(r, dict) and "template_id" in r
            ]
    return out


def build_plan(
    result: dict[str, Any],
    deals: pd.DataFrame,
    messages: pd.DataFrame,
    open_deals: Iterable[OpenDeal] = (),
    *,
    scored_at: datetime | None = None,
) -> WriteBackPlan:
    """The values every record should show after the analysis ``result`` (analyze JSON, schema 1)."""
    rows = {str(t["template_id"]): t for t in result.get("templates", [])}
    templates = [
        TemplateScoreRecord(
            template_id=tid,
            name=row.get("name"),
            score=row.get("score"),
            score_se=row.get("score_se"),
            win_rate=row.get("win_rate"),
            ci_low=row.get("ci_low"),
            ci_high=row.get("ci_high"),
            status=str(row.get("status") or "active"),
            deals=int(row.get("deals") or 0),
        )
        for tid, row in sorted(rows.items())
    ]
    plan_deals: list[DealWriteBack] = []
    closed = (
        set(deals.loc[deals["outcome"].isin(["won", "lost"]), "deal_id"].astype(str)) if len(deals) else set()
    )
    m = messages.dropna(subset=["template_id"]) if len(messages) else messages
    if len(m):
        m = m[m["deal_id"].astype(str).isin(closed) & m["template_id"].astype(str).isin(rows)]
        m = m.sort_values(["deal_id", "sent_at"]).drop_duplicates(["deal_id", "template_id"])
        for deal_id, group in m.groupby("deal_id", sort=True):
            scores, deprecated = _received([str(t) for t in group["template_id"]], rows)
            plan_deals.append(DealWriteBack(str(deal_id), scores, deprecated))
    positions = _template_positions(messages) if len(messages) else {}
    tops = _segment_tops(result)
    for deal in open_deals:
        best, score = _recommend(deal, rows, positions, tops)
        scores, deprecated = _received([t for t in deal.templates_received if t in rows], rows)
        plan_deals.append(
            DealWriteBack(
                deal.deal_id,
                scores,
                deprecated,
                recommended_next_template=(rows[best].get("name") or best) if best else None,
                recommended_score=score,
            )
        )
    return WriteBackPlan(scored_at=scored_at or utcnow(), templates=templates, deals=plan_deals)


def _hash(values: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()


def _hashes(plan: WriteBackPlan) -> dict[str, str]:
    out = {record_key("template", t.template_id): _hash(asdict(t)) for t in plan.templates}
    out |= {record_key("deal", d.deal_id): _hash(asdict(d)) for d in plan.deals}
    return out


def filter_changed(
    store: Store, tenant: TenantRef, target: str, plan: WriteBackPlan
) -> tuple[WriteBackPlan, int]:
    """The plan without the records whose values were already written successfully; and how many."""
    hashes = _hashes(plan)
    table = WriteBackStateRow.__table__
    with store.db.engine.connect() as conn:
        stored = dict(
            conn.execute(
                sa.select(table.c.record_key, table.c.value_hash).where(
                    table.c.tenant_id == tenant.id, table.c.target == target
                )
            ).all()
        )
    changed = {k for k, h in hashes.items() if stored.get(k) != h}
    filtered = replace(
        plan,
        templates=[t for t in plan.templates if record_key("template", t.template_id) in changed],
        deals=[d for d in plan.deals if record_key("deal", d.deal_id) in changed],
    )
    return filtered, len(hashes) - len(changed)


def _mark_written(store: Store, tenant: TenantRef, target: str, hashes: dict[str, str]) -> None:
    now = utcnow()
    with store.db.engine.begin() as conn:
        upsert_rows(
            conn,
            WriteBackStateRow.__table__,  # type: ignore[arg-type]
            (
                {
                    "tenant_id": tenant.id,
                    "target": target,
                    "record_key": k,
                    "value_hash": h,
                    "written_at": now,
                }
                for k, h in hashes.items()
            ),
            keys=["tenant_id", "target", "record_key"],
        )


def run_writeback(
    store: Store, tenant: TenantRef, connector: Connector, result: dict[str, Any], *, dry_run: bool = False
) -> WriteBackSummary:
    """Write the analysis ``result`` back through ``connector``, sending only what changed."""
    open_deals = list(connector.open_deals()) if isinstance(connector, SupportsOpenDeals) else []
    plan = build_plan(result, store.deals_frame(tenant), store.messages_frame(tenant), open_deals)
    changed, unchanged = filter_changed(store, tenant, connector.provider, plan)
    pending = len(changed.templates) + len(changed.deals)
    if dry_run:
        return WriteBackSummary(unchanged=unchanged, dry_run=True, would_update=pending)
    if pending == 0:
        return WriteBackSummary(unchanged=unchanged)
    report = connector.write_back(changed)
    failed = {record_key(f.kind, f.record_id) for f in report.failures}
    written = {k: h for k, h in _hashes(changed).items() if k not in failed}
    _mark_written(store, tenant, connector.provider, written)
    return WriteBackSummary(
        updated=report.updated,
        unchanged=unchanged,
        failed=report.failed,
        api_calls=report.api_calls,
        failures=[{"kind": f.kind, "id": f.record_id, "reason": f.reason} for f in report.failures],
    )
