"""What the dashboard shows, gathered from the store and an analyze JSON into one plain dict.

Kept apart from rendering so that the HTML export, the live page and the tests share one source, and so
that the browser tests can compare the marks drawn with these numbers (the dict is embedded in the page
as JSON).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from feedbackloop.analysis import engine_settings
from feedbackloop.engine.exposure import build_exposures, closed_deals
from feedbackloop.engine.optimizer.state import load_tests
from feedbackloop.engine.result import clean
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import AnalysisRun

__all__ = ["MAX_HEATMAP_TEMPLATES", "build_dashboard"]

MAX_HEATMAP_TEMPLATES = 25
_RECENT_RUNS = 20


def _monthly(store: Store, tenant: TenantRef, as_of: datetime) -> list[dict[str, Any]]:
    """Win rate of closed (won or lost) deals by close month, up to ``as_of``."""
    deals = store.deals_frame(tenant)
    if deals.empty:
        return []
    closed = closed_deals(deals, engine_settings(tenant))
    closed = closed[closed["closed_at"] <= pd.Timestamp(as_of)]
    if closed.empty:
        return []
    month = closed["closed_at"].dt.tz_convert("UTC").dt.strftime("%Y-%m")
    grouped = closed.groupby(month)["won"].agg(["sum", "count"]).sort_index()
    return [
        {"month": str(m), "won": int(r["sum"]), "closed": int(r["count"]), "win_rate": r["sum"] / r["count"]}
        for m, r in grouped.iterrows()
    ]


def _heatmap(store: Store, tenant: TenantRef, as_of: datetime) -> dict[str, Any]:
    """Raw win rate per segment × template (deal × template exposures), busiest templates first."""
    deals = store.deals_frame(tenant)
    messages = store.messages_frame(tenant)
    empty: dict[str, Any] = {"segments": [], "templates": [], "cells": []}
    if deals.empty or messages.empty:
        return empty
    deals = deals[deals["created_at"].isna() | (deals["created_at"] <= pd.Timestamp(as_of))]
    exposures = build_exposures(deals, messages, engine_settings(tenant))
    if "closed_at" in exposures:
        exposures = exposures[exposures["closed_at"] <= pd.Timestamp(as_of)]
    if exposures.empty:
        return empty
    busiest = exposures["template_id"].value_counts().head(MAX_HEATMAP_TEMPLATES).index
    exposures = exposures[exposures["template_id"].isin(busiest)]
    grouped = exposures.groupby(["template_id", "segment"])["won"].agg(["sum", "count"]).reset_index()
    cells = [
        {"template_id": str(t), "segment": str(seg), "deals": int(n), "win_rate": float(w) / int(n)}
        for t, seg, w, n in zip(
            grouped["template_id"], grouped["segment"], grouped["sum"], grouped["count"], strict=True
        )
    ]
    return {
        "segments": sorted({c["segment"] for c in cells}),
        "templates": sorted({c["template_id"] for c in cells}),
        "cells": cells,
    }


def _tests(store: Store, tenant: TenantRef) -> list[dict[str, Any]]:
    out = []
    for test in load_tests(store, tenant):
        comparisons = test.comparisons()
        p_values = [c["p_value"] for c in comparisons]
        out.append(
            {
                "test_id": test.test_id,
                "status": test.status,
                "variants": test.variants,
                "samples": [w + lo for w, lo in zip(test.wins, test.losses, strict=True)],
                "wins": list(test.wins),
                "min_sample": test.min_sample,
                "p_value": min(p_values) if p_values else None,
                "comparisons": comparisons,
                "winner": test.winner,
                "reason": test.reason,
                "started_at": test.started_at.isoformat(),
            }
        )
    return out


def _recent_alerts(store: Store, tenant: TenantRef, current: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """This analysis's alerts plus those the last recorded runs emitted (once each per key and period)."""
    with store.db.session() as s:
        results = s.scalars(
            sa.select(AnalysisRun.result)
            .where(AnalysisRun.tenant_id == tenant.id, AnalysisRun.kind == "analyze")
            .order_by(AnalysisRun.id.desc())
            .limit(_RECENT_RUNS)
        ).all()
    seen: set[tuple[str, str]] = set()
    out = []
    recorded: list[dict[str, Any]] = [a for r in results if r for a in (r.get("alerts") or [])]  # type: ignore[attr-defined]
    for alert in [*current, *recorded]:
        ident = (str(alert.get("key")), str(alert.get("period")))
        if ident not in seen:
            seen.add(ident)
            out.append(alert)
    return out


def build_dashboard(store: Store, tenant: TenantRef, analysis: dict[str, Any]) -> dict[str, Any]:
    """Everything the dashboard draws, as JSON-ready data."""
    as_of = datetime.fromisoformat(analysis["as_of"])
    overall = analysis.get("overall") or {}
    win_loss = analysis.get("win_loss") or {}
    templates = [
        {k: t.get(k) for k in ("template_id", "name", "deals", "posterior_mean", "ci_low", "ci_high",
                               "status", "win_rate", "score", "action")}
        for t in analysis.get("templates", [])
        if t.get("posterior_mean") is not None and t.get("ci_low") is not None and t.get("deals")
    ]  # fmt: skip
    templates.sort(key=lambda t: -float(t["posterior_mean"]))
    data = {
        "tenant": tenant.name,
        "as_of": analysis["as_of"],
        "data_status": analysis.get("data_status"),
        "overall": overall,
        "baseline_win_rate": overall.get("baseline_win_rate") or overall.get("win_rate"),
        "monthly": _monthly(store, tenant, as_of),
        "templates": templates,
        "declining": list(analysis.get("declining") or []),
        "heatmap": _heatmap(store, tenant, as_of),
        "tests": _tests(store, tenant),
        "loss_reasons": list(win_loss.get("loss_reasons") or []),
        "stages_lost": list(win_loss.get("stages_lost") or []),
        "competitors": list(win_loss.get("competitor_losses") or []),
        "alerts": _recent_alerts(store, tenant, list(analysis.get("alerts") or [])),
        "recommendations": list(analysis.get("recommendations") or []),
    }
    cleaned: dict[str, Any] = clean(data)
    return cleaned
