"""The seed's four alerts, as data: overall drop, failing template, competitor surge, segment decline.

Windows are the trend windows of the settings (recent = the last ``recent_days`` before ``as_of``,
historical = ``historical_start_days``..``historical_end_days`` before it), by deal close date. A drop or
surge alerts only when it is both large (the configured relative threshold) and significant (one-sided
Fisher exact test; Benjamini–Hochberg/Holm across competitors and across segments).

Alerts are deduplicated per period: each has a ``key`` (``kind:subject``) and the ``period`` of
``as_of`` (ISO day, week or month); a key already emitted in the same period (``PreviousState``) is
suppressed, so a second run in the same week does not alert again. ``failing_template`` fires when a
template is newly found worse than average or declining (not again for one already deprecated or in
review). Delivery is not done here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from scipy import stats

from feedbackloop.engine.decisions import Decision
from feedbackloop.engine.multiplicity import adjust
from feedbackloop.engine.result import PreviousState
from feedbackloop.engine.settings import EngineSettings

__all__ = ["AlertOutcome", "alert_period", "build_alerts"]


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """Alerts to emit now, the keys suppressed as already sent this period, and the keys to remember."""

    alerts: list[dict[str, Any]]
    suppressed: list[str]
    alert_keys: dict[str, str]


def alert_period(as_of: datetime, period: str) -> str:
    """The deduplication period of ``as_of``: ``2026-11-24``, ``2026-W48`` or ``2026-11``."""
    if period == "day":
        return as_of.date().isoformat()
    if period == "month":
        return f"{as_of.year:04d}-{as_of.month:02d}"
    iso = as_of.isocalendar()
    return f"{iso.year:04d}-W{iso.week:02d}"


def _windows(closed: pd.DataFrame, as_of: datetime, s: EngineSettings) -> tuple[pd.Series, pd.Series]:
    at = pd.Timestamp(as_of)
    closed_at = closed["closed_at"]
    recent = (closed_at > at - timedelta(days=s.recent_days)) & (closed_at <= at)
    hist = (closed_at >= at - timedelta(days=s.historical_start_days)) & (
        closed_at < at - timedelta(days=s.historical_end_days)
    )
    return recent, hist


def _fisher(a: int, b: int, c: int, d: int, alternative: str) -> float:
    if min(a + b, c + d) == 0:
        return 1.0
    return float(stats.fisher_exact([[a, b], [c, d]], alternative=alternative)[1])


def _rate_drop(won: pd.Series, recent: pd.Series, hist: pd.Series) -> dict[str, Any]:
    rw, rn = int(won[recent].sum()), int(recent.sum())
    hw, hn = int(won[hist].sum()), int(hist.sum())
    r_rate = rw / rn if rn else None
    h_rate = hw / hn if hn else None
    change = (r_rate - h_rate) / h_rate if r_rate is not None and h_rate else None
    return {
        "recent_deals": rn,
        "recent_win_rate": r_rate,
        "historical_deals": hn,
        "historical_win_rate": h_rate,
        "relative_change": change,
        "p_value": _fisher(rw, rn - rw, hw, hn - hw, "less"),
    }


def _candidates(
    closed: pd.DataFrame, decisions: Sequence[Decision], as_of: datetime, s: EngineSettings
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not closed.empty:
        recent, hist = _windows(closed, as_of, s)
        won = closed["won"]
        overall = _rate_drop(won, recent, hist)
        if (
            min(overall["recent_deals"], overall["historical_deals"]) >= s.alert_min_deals
            and overall["relative_change"] is not None
            and overall["relative_change"] <= -s.alert_overall_drop
            and overall["p_value"] < s.alpha
        ):
            out.append(_alert("overall_drop", "all", "high", "Overall win rate dropped", overall))
        out += _segment_alerts(closed, recent, hist, s)
        out += _competitor_alerts(closed, recent, hist, s)
    for d in decisions:
        # Only news: a template already deprecated (or already in review for its decline) stays quiet.
        new_deprecation = d.action == "deprecate" and d.previous_status != "deprecated"
        new_decline = d.criteria["declining_trend"]["met"] and d.previous_status not in (
            "review",
            "deprecated",
        )
        if new_deprecation or new_decline:
            kind = "worse than the average template" if d.action == "deprecate" else "declining"
            data = {"action": d.action, "status": d.status, "reason": d.reason, **d.numbers}
            severity = "high" if d.action == "deprecate" else "medium"
            out.append(_alert("failing_template", d.template_id, severity, f"Template {kind}", data))
    return out


def _segment_alerts(
    closed: pd.DataFrame, recent: pd.Series, hist: pd.Series, s: EngineSettings
) -> list[dict[str, Any]]:
    segment = closed["segment"].fillna("unknown").astype(str)
    rows: list[tuple[str, dict[str, Any]]] = []
    for name in sorted(segment.unique()):
        in_seg = segment == name
        drop = _rate_drop(closed["won"], recent & in_seg, hist & in_seg)
        if min(drop["recent_deals"], drop["historical_deals"]) >= s.segment_min_deals:
            rows.append((name, drop))
    q = adjust([d["p_value"] for _, d in rows], s.fdr_method)
    return [
        _alert(
            "segment_decline", name, "medium", f"Win rate declining in segment {name}", {**d, "q_value": qv}
        )
        for (name, d), qv in zip(rows, q, strict=True)
        if d["relative_change"] is not None and d["relative_change"] <= -s.alert_segment_drop and qv < s.alpha
    ]


def _competitor_alerts(
    closed: pd.DataFrame, recent: pd.Series, hist: pd.Series, s: EngineSettings
) -> list[dict[str, Any]]:
    lost = ~closed["won"]
    r_lost, h_lost = int((lost & recent).sum()), int((lost & hist).sum())
    if min(r_lost, h_lost) < s.alert_min_deals:
        return []
    competitor = closed["competitor"].astype("string").str.strip()
    rows: list[tuple[str, dict[str, Any]]] = []
    for name in sorted(competitor[lost & recent].dropna().unique()):
        if not name:
            continue
        named = competitor == name
        rc, hc = int((named & lost & recent).sum()), int((named & lost & hist).sum())
        r_share, h_share = rc / r_lost, hc / h_lost
        change = (r_share - h_share) / h_share if h_share else None
        p = _fisher(rc, r_lost - rc, hc, h_lost - hc, "greater")
        data = {"recent_losses": rc, "recent_share": r_share, "historical_losses": hc}
        rows.append(
            (str(name), {**data, "historical_share": h_share, "relative_change": change, "p_value": p})
        )
    q = adjust([d["p_value"] for _, d in rows], s.fdr_method)
    return [
        _alert("competitor_surge", name, "medium", f"More deals lost to {name}", {**d, "q_value": qv})
        for (name, d), qv in zip(rows, q, strict=True)
        if (d["relative_change"] is None or d["relative_change"] >= s.alert_competitor_surge) and qv < s.alpha
    ]


def _alert(kind: str, subject: str, severity: str, title: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "key": f"{kind}:{subject}",
        "kind": kind,
        "subject": subject,
        "severity": severity,
        "title": title,
        "data": dict(data),
    }


def build_alerts(
    closed: pd.DataFrame,
    decisions: Sequence[Decision],
    settings: EngineSettings,
    as_of: datetime,
    previous: PreviousState | None = None,
) -> AlertOutcome:
    """Evaluate the four alerts; ``closed`` has won (bool), closed_at, segment and competitor per deal."""
    period = alert_period(as_of, settings.alert_period)
    remembered = {k: p for k, p in (previous.alert_keys if previous else {}).items() if p == period}
    alerts, suppressed = [], []
    for alert in _candidates(closed, decisions, as_of, settings):
        if alert["key"] in remembered:
            suppressed.append(alert["key"])
            continue
        alerts.append({**alert, "period": period})
        remembered[alert["key"]] = period
    return AlertOutcome(alerts, suppressed, remembered)
