"""Segment insights: top templates per segment, segment-specific winners, recurring sequence patterns.

A *segment-specific winner* is a template whose effect differs between segments (a template × segment
interaction) and that beats the other templates in one segment. Per template we compare, segment by
segment, the odds of winning for deals that received it against deals in the same segment that did
not; the Breslow–Day test (statsmodels ``StratifiedTable.test_equal_odds``) asks whether those odds
ratios are equal across segments, and the p-values are corrected across templates (BH or Holm).
Stratifying by segment keeps segment mix from posing as an interaction.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable, Table2x2
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from feedbackloop.engine.result import INSUFFICIENT_DATA, NO_DATA, OK, records
from feedbackloop.engine.settings import EngineSettings

__all__ = [
    "UNKNOWN_SEGMENT",
    "segment_insights",
    "segment_interactions",
    "sequence_patterns",
    "top_templates_by_segment",
]

UNKNOWN_SEGMENT = "unknown"
_METHODS = {"bh": "fdr_bh", "holm": "holm"}


def _with_segment(exposures: pd.DataFrame) -> pd.DataFrame:
    frame = exposures[["deal_id", "template_id", "won", "segment"]].copy()
    frame["segment"] = frame["segment"].fillna(UNKNOWN_SEGMENT).astype(str)
    frame["won"] = frame["won"].astype(bool)
    return frame


def _deal_level(exposures: pd.DataFrame) -> pd.DataFrame:
    return exposures.drop_duplicates("deal_id")[["deal_id", "segment", "won"]]


def top_templates_by_segment(exposures: pd.DataFrame, settings: EngineSettings) -> pd.DataFrame:
    """Per segment, templates ranked by a Beta posterior shrunk toward the segment's win rate.

    Columns: segment, template_id, deals, won, win_rate, posterior_mean, ci_low, ci_high,
    segment_win_rate, rank. Only templates with ``segment_min_deals`` deals in the segment are ranked,
    at most ``segment_top_n`` per segment.
    """
    columns = ["segment", "template_id", "deals", "won", "win_rate", "posterior_mean", "ci_low"]
    columns += ["ci_high", "segment_win_rate", "rank"]
    if exposures.empty:
        return pd.DataFrame(columns=columns)
    frame = _with_segment(exposures)
    seg_rate = _deal_level(frame).groupby("segment")["won"].mean()
    cells = frame.groupby(["segment", "template_id"])["won"].agg(deals="size", won="sum").reset_index()
    cells = cells[cells["deals"] >= settings.segment_min_deals].copy()
    if cells.empty:
        return pd.DataFrame(columns=columns)
    m = cells["segment"].map(seg_rate).astype(float)
    k = settings.segment_prior_strength
    a = cells["won"] + k * m
    b = cells["deals"] - cells["won"] + k * (1 - m)
    cells["win_rate"] = cells["won"] / cells["deals"]
    cells["posterior_mean"] = a / (a + b)
    cells["ci_low"] = stats.beta.ppf(0.025, a, b)
    cells["ci_high"] = stats.beta.ppf(0.975, a, b)
    cells["segment_win_rate"] = m
    cells = cells.sort_values(["segment", "posterior_mean"], ascending=[True, False])
    cells["rank"] = cells.groupby("segment").cumcount() + 1
    return cells[cells["rank"] <= settings.segment_top_n][columns].reset_index(drop=True)


def _segment_tables(frame: pd.DataFrame, deals: pd.DataFrame, template_id: str) -> dict[str, np.ndarray]:
    """2×2 tables per segment: rows (received template, did not), columns (won, lost)."""
    has = frame.loc[frame["template_id"] == template_id, ["deal_id"]].drop_duplicates()
    tagged = deals.merge(has.assign(has=True), on="deal_id", how="left")
    tagged["has"] = tagged["has"].fillna(False).astype(bool)
    out: dict[str, np.ndarray] = {}
    for segment, g in tagged.groupby("segment"):
        with_t, without = g[g["has"]], g[~g["has"]]
        table = np.array(
            [
                [with_t["won"].sum(), len(with_t) - with_t["won"].sum()],
                [without["won"].sum(), len(without) - without["won"].sum()],
            ],
            dtype=float,
        )
        if table[0].sum() > 0 and table[1].sum() > 0:
            out[str(segment)] = table
    return out


def segment_interactions(
    exposures: pd.DataFrame, settings: EngineSettings
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test every template for a segment interaction; return (tests, per-segment odds ratios).

    tests: template_id, segments, statistic, p_value, q_value, pooled_odds_ratio, significant.
    cells: template_id, segment, deals, won, win_rate, others_win_rate, odds_ratio, ci_low, ci_high,
    pooled_odds_ratio, winner (significant interaction, odds ratio above the pooled one and its 95%
    interval above 1), loser (the mirror image).
    """
    test_cols = ["template_id", "segments", "statistic", "p_value", "q_value", "pooled_odds_ratio"]
    test_cols.append("significant")
    cell_cols = ["template_id", "segment", "deals", "won", "win_rate", "others_win_rate", "odds_ratio"]
    cell_cols += ["ci_low", "ci_high", "pooled_odds_ratio", "winner", "loser"]
    if exposures.empty:
        return pd.DataFrame(columns=test_cols), pd.DataFrame(columns=cell_cols)
    frame = _with_segment(exposures)
    deals = _deal_level(frame)
    tests: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    for template_id in sorted(frame["template_id"].dropna().unique()):
        tables = {
            s: t
            for s, t in _segment_tables(frame, deals, template_id).items()
            if t[0].sum() >= settings.segment_min_deals
        }
        if len(tables) < 2:
            continue
        strat = StratifiedTable(list(tables.values()), shift_zeros=True)
        bd = strat.test_equal_odds(adjust=True)
        pooled = float(strat.oddsratio_pooled)
        tests.append(
            {
                "template_id": template_id,
                "segments": len(tables),
                "statistic": float(bd.statistic),
                "p_value": float(bd.pvalue),
                "pooled_odds_ratio": pooled,
            }
        )
        for segment, table in tables.items():
            t2 = Table2x2(table, shift_zeros=True)
            low, high = t2.oddsratio_confint(0.05)
            cells.append(
                {
                    "template_id": template_id,
                    "segment": segment,
                    "deals": int(table[0].sum()),
                    "won": int(table[0, 0]),
                    "win_rate": table[0, 0] / table[0].sum(),
                    "others_win_rate": table[1, 0] / table[1].sum(),
                    "odds_ratio": float(t2.oddsratio),
                    "ci_low": float(low),
                    "ci_high": float(high),
                    "pooled_odds_ratio": pooled,
                }
            )
    if not tests:
        return pd.DataFrame(columns=test_cols), pd.DataFrame(columns=cell_cols)
    test_frame = pd.DataFrame(tests)
    p = test_frame["p_value"].fillna(1.0).to_numpy()
    test_frame["q_value"] = multipletests(p, alpha=settings.alpha, method=_METHODS[settings.fdr_method])[1]
    test_frame["significant"] = test_frame["q_value"] < settings.alpha
    cell_frame = pd.DataFrame(cells).merge(test_frame[["template_id", "significant"]], on="template_id")
    sig = cell_frame["significant"]
    above = cell_frame["odds_ratio"] > cell_frame["pooled_odds_ratio"]
    cell_frame["winner"] = sig & above & (cell_frame["ci_low"] > 1.0)
    cell_frame["loser"] = sig & ~above & (cell_frame["ci_high"] < 1.0)
    return test_frame[test_cols], cell_frame[cell_cols]


def _closed_template_messages(
    deals: pd.DataFrame, messages: pd.DataFrame, settings: EngineSettings
) -> pd.DataFrame:
    outcomes = set(settings.success_outcomes) | set(settings.failure_outcomes)
    closed = deals.loc[deals["outcome"].isin(outcomes), ["deal_id", "outcome"]]
    msgs = messages.loc[messages["template_id"].notna(), ["deal_id", "template_id", "sent_at", "position"]]
    msgs = msgs.merge(closed, on="deal_id")
    msgs["won"] = msgs["outcome"].isin(settings.success_outcomes)
    return msgs.sort_values(["deal_id", "sent_at", "position"], kind="stable")


def sequence_patterns(deals: pd.DataFrame, messages: pd.DataFrame, settings: EngineSettings) -> pd.DataFrame:
    """Recurring ordered template patterns per closed deal, with their win rates.

    For each deal the templates in send order (repeats of the same template in a row collapsed) give
    its full pattern and its contiguous sub-patterns of length 2..``pattern_max_length``; each is
    counted once per deal. Patterns seen on at least ``pattern_min_occurrences`` deals are returned
    with a Wilson 95% interval and the lift over the overall win rate of these deals.
    Columns: pattern (tuple), kind (full|subsequence), length, deals, won, win_rate, ci_low,
    ci_high, lift.
    """
    columns = ["pattern", "kind", "length", "deals", "won", "win_rate", "ci_low", "ci_high", "lift"]
    if deals.empty or messages.empty:
        return pd.DataFrame(columns=columns)
    msgs = _closed_template_messages(deals, messages, settings)
    if msgs.empty:
        return pd.DataFrame(columns=columns)
    seen: Counter[tuple[str, tuple[str, ...]]] = Counter()
    wins: Counter[tuple[str, tuple[str, ...]]] = Counter()
    won_by_deal = msgs.groupby("deal_id")["won"].first()
    for deal_id, ids in msgs.groupby("deal_id")["template_id"]:
        seq = [str(t) for i, t in enumerate(ids) if i == 0 or t != ids.iloc[i - 1]]
        keys = {("full", tuple(seq))}
        for n in range(2, settings.pattern_max_length + 1):
            keys.update(("subsequence", tuple(seq[i : i + n])) for i in range(len(seq) - n + 1))
        won = bool(won_by_deal[deal_id])
        for key in keys:
            seen[key] += 1
            wins[key] += won
    baseline = float(won_by_deal.mean())
    rows = [
        {"pattern": pat, "kind": kind, "length": len(pat), "deals": n, "won": wins[(kind, pat)]}
        for (kind, pat), n in seen.items()
        if n >= settings.pattern_min_occurrences
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame(rows)
    out["win_rate"] = out["won"] / out["deals"]
    low, high = proportion_confint(out["won"], out["deals"], alpha=0.05, method="wilson")
    out["ci_low"], out["ci_high"] = low, high
    out["lift"] = out["win_rate"] - baseline
    return out.sort_values(["win_rate", "deals"], ascending=[False, False])[columns].reset_index(drop=True)


def segment_insights(
    exposures: pd.DataFrame, deals: pd.DataFrame, messages: pd.DataFrame, settings: EngineSettings
) -> dict[str, Any]:
    """The ``segments`` section of the analyze JSON."""
    if exposures.empty:
        return {
            "data_status": NO_DATA,
            "segments": [],
            "segment_winners": [],
            "interaction_tests": [],
            "sequence_patterns": {"best": [], "worst": []},
        }
    frame = _with_segment(exposures)
    per_deal = _deal_level(frame)
    top = top_templates_by_segment(exposures, settings)
    summary = per_deal.groupby("segment")["won"].agg(deals="size", won="sum").reset_index()
    summary["win_rate"] = summary["won"] / summary["deals"]
    segments = []
    for row in records(summary):
        seg_top = top[top["segment"] == row["segment"]].drop(columns=["segment", "segment_win_rate"])
        segments.append({**row, "top_templates": records(seg_top)})
    tests, cells = segment_interactions(exposures, settings)
    winners = cells[cells["winner"]].drop(columns=["winner", "loser"]) if not cells.empty else cells
    patterns = sequence_patterns(deals, messages, settings)
    n = settings.report_top_n
    pattern_records = {
        "best": records(patterns.head(n)),
        "worst": records(patterns.iloc[n:].tail(n).iloc[::-1]),
    }
    status = OK if not tests.empty else INSUFFICIENT_DATA
    return {
        "data_status": status,
        "segments": segments,
        "segment_winners": records(winners),
        "interaction_tests": records(tests),
        "sequence_patterns": pattern_records,
    }
