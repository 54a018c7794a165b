"""The ``overall`` and ``templates`` sections of the analyze JSON, assembled from the core's frames."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
from scipy import stats

from feedbackloop.engine.decisions import Decision
from feedbackloop.engine.result import INSUFFICIENT_DATA, NO_DATA, OK, clean
from feedbackloop.engine.settings import EngineSettings

__all__ = ["overall_metrics", "template_rows"]


def _rate(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def overall_metrics(
    deals: pd.DataFrame,
    messages: pd.DataFrame,
    settings: EngineSettings,
    at: pd.Timestamp,
    baseline_win_rate: float | None,
) -> dict[str, Any]:
    """Deal counts and win rate, the trend (recent vs historical window), response and meeting rates.

    ``baseline_win_rate`` is the deal-level win rate of deals that received any template (what
    ``p_beats_baseline`` compares against). ``win_rate_trend`` is the relative change of the recent
    window's win rate against the historical window's, with a two-sided Fisher exact p-value.
    ``response_rate`` is replied / outbound messages whose reply flag is known; ``meeting_conversion``
    the share of deals with a reply that reached a meeting or were won.
    """
    closed = deals[deals["outcome"].isin([*settings.success_outcomes, *settings.failure_outcomes])]
    won_mask = closed["outcome"].isin(settings.success_outcomes)
    won, lost = int(won_mask.sum()), int((~won_mask).sum())
    t = closed["closed_at"]
    recent = (t > at - timedelta(days=settings.recent_days)) & (t <= at)
    hist = (t > at - timedelta(days=settings.historical_start_days)) & (
        t <= at - timedelta(days=settings.historical_end_days)
    )
    rw, rn = int((won_mask & recent).sum()), int(recent.sum())
    hw, hn = int((won_mask & hist).sum()), int(hist.sum())
    r_rate, h_rate = _rate(rw, rn), _rate(hw, hn)
    trend = (r_rate - h_rate) / h_rate if r_rate is not None and h_rate else None
    p_trend = float(stats.fisher_exact([[rw, rn - rw], [hw, hn - hw]])[1]) if rn and hn else None
    outbound = messages[messages["direction"].isna() | (messages["direction"] == "outbound")]
    replied = outbound["replied"].astype("boolean")
    known = replied.dropna()
    replied_deals = set(outbound.loc[replied.fillna(False).astype(bool), "deal_id"].unique())
    reached = deals[deals["deal_id"].isin(replied_deals)]["outcome"].isin(
        ["meeting", *settings.success_outcomes]
    )
    amount = pd.to_numeric(closed.loc[won_mask, "amount"], errors="coerce")
    status = NO_DATA if closed.empty else OK if len(closed) >= settings.min_sample_size else INSUFFICIENT_DATA
    return {
        "data_status": status,
        "deals_total": len(deals),
        "deals_closed": len(closed),
        "won": won,
        "lost": lost,
        "win_rate": _rate(won, won + lost),
        "baseline_win_rate": clean(baseline_win_rate),
        "recent_deals": rn,
        "recent_win_rate": r_rate,
        "historical_deals": hn,
        "historical_win_rate": h_rate,
        "win_rate_trend": trend,
        "win_rate_trend_p_value": p_trend,
        "messages_sent": len(outbound),
        "response_rate": _rate(int(known.sum()), len(known)),
        "meeting_conversion": _rate(int(reached.sum()), len(reached)),
        "revenue_won": float(amount.sum()) if len(amount) else 0.0,
    }


def _attribution_by_template(attribution: pd.DataFrame) -> dict[str, dict[str, dict[str, float]]]:
    out: dict[str, dict[str, dict[str, float]]] = {}
    for row in attribution.itertuples(index=False):
        out.setdefault(str(row.template_id), {})[str(row.model)] = {
            "wins": float(row.wins),  # type: ignore[arg-type]
            "revenue": float(row.revenue),  # type: ignore[arg-type]
        }
    return out


def template_rows(
    table: pd.DataFrame, templates: pd.DataFrame, decisions: list[Decision], attribution: pd.DataFrame
) -> list[dict[str, Any]]:
    """One JSON object per known template (see the README for the fields)."""
    names = dict(zip(templates["template_id"].astype(str), templates["name"], strict=True))
    attributed = _attribution_by_template(attribution)
    rows = []
    for d in decisions:
        row: dict[str, Any] = {}
        if d.template_id in table.index:
            row = {str(k): v for k, v in table.loc[d.template_id].items()}

        def value(key: str, row: dict[str, Any] = row) -> Any:
            return clean(row.get(key))

        status = value("data_status") or "no_closed_deals"
        if status == OK and value("effect_status") not in (None, OK):
            status = value("effect_status")
        rows.append(
            {
                "template_id": d.template_id,
                "name": clean(names.get(d.template_id)),
                "deals": int(value("deals") or 0),
                "won": int(value("won") or 0),
                "lost": int(value("lost") or 0),
                "win_rate": value("win_rate"),
                "posterior_mean": value("posterior_mean"),
                "ci_low": value("ci_low"),
                "ci_high": value("ci_high"),
                "p_beats_baseline": value("p_beats_baseline"),
                "p_best": value("p_best"),
                "score": value("score"),
                "score_se": value("score_se"),
                "slot": value("slot"),
                "recent_deals": value("recent_deals"),
                "recent_win_rate": value("recent_win_rate"),
                "historical_deals": value("historical_deals"),
                "historical_win_rate": value("historical_win_rate"),
                "relative_change": value("relative_change"),
                "declining": bool(value("declining") or False),
                "trend_q_value": value("q_value"),
                "action": d.action,
                "status": d.status,
                "previous_status": d.previous_status,
                "status_changed": d.changed,
                "pinned": d.pinned,
                "reason": d.reason,
                "criteria": clean(d.criteria),
                "decision_numbers": clean(d.numbers),
                "attribution": attributed.get(d.template_id, {}),
                "data_status": status,
            }
        )
    return rows
