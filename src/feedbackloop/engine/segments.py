"""Segment insights: top templates per segment, segment-specific winners, recurring sequence patterns.

A *segment-specific winner* is a template whose effect differs between segments (a template × segment
interaction) and is clearly above its own average in one segment. The test adds template × segment terms
to the core's deal-level model (every template received, segment, the same ridge penalty) and asks, per
template, whether its effect relative to the average template is equal in every segment where it has
``segment_min_deals`` deals (a Wald χ² test on the Laplace covariance); p-values are corrected across
templates (BH or Holm). Adjusting for
the other templates matters: templates share sequences and their use differs by segment, so a plain
"deals with t vs without t" comparison per segment finds interactions that are really mix effects.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from feedbackloop.engine.deal_rows import deal_rows, time_key
from feedbackloop.engine.distinct import per_distinct
from feedbackloop.engine.effects import Design, deal_design, fit_ridge_logit
from feedbackloop.engine.multiplicity import adjust
from feedbackloop.engine.patterns import count_patterns
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
OTHER_SEGMENT = "other"
#: Segments given their own template × segment terms (the rest are pooled as "other").
MAX_MODEL_SEGMENTS = 8


def _with_segment(exposures: pd.DataFrame) -> pd.DataFrame:
    """The exposure columns the segment insights use, with the segment as text ("unknown" if missing).
    Each distinct segment is converted once (:func:`~feedbackloop.engine.distinct.per_distinct`)."""
    frame = exposures[["deal_id", "template_id", "won", "segment"]].copy()
    codes, labels = per_distinct(frame["segment"], str, UNKNOWN_SEGMENT)
    frame["segment"] = pd.Series(labels[codes], index=frame.index, dtype=object).astype(str)
    frame["won"] = frame["won"].astype(bool)
    return frame


def _deal_level(exposures: pd.DataFrame) -> pd.DataFrame:
    return exposures.drop_duplicates("deal_id")[["deal_id", "segment", "won"]]


def top_templates_by_segment(
    exposures: pd.DataFrame, settings: EngineSettings, *, prepared: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Per segment, templates ranked by a Beta posterior shrunk toward the segment's win rate.

    Columns: segment, template_id, deals, won, win_rate, posterior_mean, ci_low, ci_high,
    segment_win_rate, rank. Only templates with ``segment_min_deals`` deals in the segment are ranked,
    at most ``segment_top_n`` per segment. ``prepared``: ``_with_segment(exposures)``, when the caller
    already has it.
    """
    columns = ["segment", "template_id", "deals", "won", "win_rate", "posterior_mean", "ci_low"]
    columns += ["ci_high", "segment_win_rate", "rank"]
    if exposures.empty:
        return pd.DataFrame(columns=columns)
    frame = _with_segment(exposures) if prepared is None else prepared
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


def _interaction_fit(
    exposures: pd.DataFrame, deals: pd.DataFrame | None, settings: EngineSettings
) -> tuple[Any, Design, list[str], int] | None:
    """Fit the core's deal-level model plus template × segment terms (one per non-reference segment).

    Returns (fit, design, segments, first interaction column), or None when
    there is nothing to fit (fewer than two segments, too few deals, or no variation).
    """
    design = deal_design(exposures, deals, settings)
    y = design.outcome
    if len(y) < settings.min_model_deals or y.min() == y.max():
        return None
    seg_of = exposures.drop_duplicates("deal_id").set_index("deal_id")["segment"]
    labels = seg_of.reindex(design.deal_ids).fillna(UNKNOWN_SEGMENT).astype(str).to_numpy()
    counts = pd.Series(labels).value_counts()
    # Keep the model small: rare segments, and all beyond the most frequent few, are pooled.
    keep = list(counts[counts >= settings.segment_min_deals].index[:MAX_MODEL_SEGMENTS])
    labels = np.where(np.isin(labels, keep), labels, OTHER_SEGMENT)
    segments = list(pd.Series(labels).value_counts().index)  # most frequent first: the reference
    if len(segments) < 2:
        return None
    k = len(design.templates)
    templates = design.matrix[:, design.template_start : design.template_start + k]
    blocks: list[Any] = [design.matrix]
    pens = [design.penalty]
    dummies = sp.csr_matrix((labels[:, None] == np.asarray(segments[1:])[None, :]).astype(float))
    if "segment" not in settings.covariates:
        blocks.append(dummies)
        pens.append(np.full(dummies.shape[1], 1e-4))
    start = sum(b.shape[1] for b in blocks)
    for j in range(len(segments) - 1):
        blocks.append(sp.csr_matrix(templates.multiply(dummies[:, j])))
        pens.append(np.full(k, settings.l2_penalty))
    fit = fit_ridge_logit(sp.hstack(blocks, format="csr"), y, np.concatenate(pens))
    return fit, design, segments, start


def segment_interactions(
    exposures: pd.DataFrame,
    deals: pd.DataFrame | None,
    settings: EngineSettings,
    *,
    prepared: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test every template for a segment interaction; return (tests, per-segment effects).

    tests: template_id, segments, statistic (Wald χ²), df, p_value, q_value, significant.
    cells: template_id, segment, deals, won, win_rate, others_win_rate, effect (the template's
    log-odds effect in the segment relative to the average template there), deviation (effect minus
    its mean over the tested segments),
    ci_low, ci_high (95% interval of the deviation), winner (significant interaction, the template's
    best segment, deviation and effect both with 95% intervals above 0: it beats the average template
    there, and by more than elsewhere), loser (the mirror image). ``prepared`` as in
    :func:`top_templates_by_segment`.
    """
    test_cols = ["template_id", "segments", "statistic", "df", "p_value", "q_value", "significant"]
    cell_cols = [
        "template_id",
        "segment",
        "deals",
        "won",
        "win_rate",
        "others_win_rate",
        "effect",
        "effect_se",
    ]
    cell_cols += ["deviation", "ci_low", "ci_high", "winner", "loser"]
    empty = pd.DataFrame(columns=test_cols), pd.DataFrame(columns=cell_cols)
    if exposures.empty:
        return empty
    frame = _with_segment(exposures) if prepared is None else prepared
    fitted = _interaction_fit(frame, deals, settings)
    if fitted is None:
        return empty
    fit, design, segments, start = fitted
    k = len(design.templates)
    per_deal = _deal_level(frame)
    seg_size = {str(k): int(v) for k, v in per_deal.groupby("segment")["won"].size().items()}
    seg_wins = {str(k): int(v) for k, v in per_deal.groupby("segment")["won"].sum().items()}
    grouped = frame.groupby(["template_id", "segment"])["won"]
    size: dict[Any, int] = {k: int(v) for k, v in grouped.size().items()}
    wins: dict[Any, int] = {k: int(v) for k, v in grouped.sum().items()}
    z = float(stats.norm.ppf(0.975))
    tests: list[dict[str, Any]] = []
    cells: list[dict[str, Any]] = []
    for i, template_id in enumerate(design.templates):
        eligible = [s for s in segments if size.get((template_id, s), 0) >= settings.segment_min_deals]
        if len(eligible) < 2:
            continue
        # Effect of t in segment s relative to the average template there, as weights over the
        # coefficients: (β_t + γ_{t,s}) − mean_t'(β_t' + γ_{t',s}). Only such relative effects are
        # identified when deals receive a fixed number of templates.
        rows = np.zeros((len(eligible), len(fit.coef)))
        for r, seg in enumerate(eligible):
            j = segments.index(seg)
            rows[r, design.template_start : design.template_start + k] -= 1.0 / k
            rows[r, design.template_start + i] += 1.0
            if j > 0:
                rows[r, start + (j - 1) * k : start + j * k] -= 1.0 / k
                rows[r, start + (j - 1) * k + i] += 1.0
        centre = rows - rows.mean(axis=0)
        deviation = centre @ fit.coef
        dev_cov = centre @ fit.covariance @ centre.T
        # Wald test of "equal effect in every eligible segment": len(eligible) - 1 independent contrasts.
        contrast = rows[1:] - rows[0]
        diff = contrast @ fit.coef
        stat = float(diff @ np.linalg.pinv(contrast @ fit.covariance @ contrast.T) @ diff)
        tests.append(
            {"template_id": str(template_id), "segments": len(eligible), "statistic": stat,
             "df": len(eligible) - 1, "p_value": float(stats.chi2.sf(stat, len(eligible) - 1))}
        )  # fmt: skip
        se = np.sqrt(np.clip(np.diag(dev_cov), 0, None))
        effect_se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", rows, fit.covariance, rows), 0, None))
        for r, seg in enumerate(eligible):
            n, won = size[(template_id, seg)], wins[(template_id, seg)]
            others_n, others_won = seg_size[seg] - n, seg_wins[seg] - won
            cells.append(
                {
                    "template_id": str(template_id),
                    "segment": seg,
                    "deals": n,
                    "won": won,
                    "win_rate": won / n,
                    "others_win_rate": others_won / others_n if others_n > 0 else None,
                    "effect": float(rows[r] @ fit.coef),
                    "effect_se": float(effect_se[r]),
                    "deviation": float(deviation[r]),
                    "ci_low": float(deviation[r] - z * se[r]),
                    "ci_high": float(deviation[r] + z * se[r]),
                    "best": bool(r == int(np.argmax(deviation))),
                    "worst": bool(r == int(np.argmin(deviation))),
                }
            )
    if not tests:
        return empty
    test_frame = pd.DataFrame(tests)
    p = test_frame["p_value"].fillna(1.0).to_numpy()
    test_frame["q_value"] = adjust(p, settings.fdr_method)
    test_frame["significant"] = test_frame["q_value"] < settings.alpha
    cell_frame = pd.DataFrame(cells).merge(test_frame[["template_id", "significant"]], on="template_id")
    sig = cell_frame["significant"]
    above = cell_frame["effect"] - z * cell_frame["effect_se"] > 0
    below = cell_frame["effect"] + z * cell_frame["effect_se"] < 0
    cell_frame["winner"] = sig & cell_frame["best"] & (cell_frame["ci_low"] > 0) & above
    cell_frame["loser"] = sig & cell_frame["worst"] & (cell_frame["ci_high"] < 0) & below
    return test_frame[test_cols], cell_frame[cell_cols]


def _closed_template_sequences(
    deals: pd.DataFrame, messages: pd.DataFrame, settings: EngineSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Templated messages of closed deals in (deal, send time, position) order, as arrays:
    (deal key per message, template code per message, template labels, won per message)."""
    outcomes = set(settings.success_outcomes) | set(settings.failure_outcomes)
    closed = deals.loc[deals["outcome"].isin(outcomes), ["deal_id", "outcome"]]
    msgs = messages.loc[messages["template_id"].notna(), ["deal_id", "template_id", "sent_at", "position"]]
    rows = deal_rows(msgs["deal_id"], closed["deal_id"])
    if rows is None:  # repeated deal ids: the general merge
        merged = msgs.merge(closed, on="deal_id")
        merged = merged.sort_values(["deal_id", "sent_at", "position"], kind="stable")
        deal_key, _ = pd.factorize(merged["deal_id"])
        codes, names = pd.factorize(merged["template_id"].to_numpy())
        won = merged["outcome"].isin(settings.success_outcomes).to_numpy(dtype=bool)
    else:  # grouped by deal (in closed-deal order), then by send time and position
        found = rows >= 0
        msgs, rows = msgs[found], rows[found]
        position = pd.to_numeric(msgs["position"], errors="coerce").to_numpy(dtype=float)
        order = np.lexsort((position, time_key(msgs["sent_at"]), rows))
        deal_key = rows[order]
        codes, names = pd.factorize(msgs["template_id"].to_numpy())
        codes = codes[order]
        won = closed["outcome"].isin(settings.success_outcomes).to_numpy(dtype=bool)[deal_key]
    # patterns are labelled with the ids as text: ids that print alike are one template
    remap, labels = pd.factorize(np.asarray([str(n) for n in names], dtype=object))
    return deal_key, remap[codes], np.asarray(labels, dtype=object), won


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
    deal, codes, labels, won_flags = _closed_template_sequences(deals, messages, settings)
    if len(deal) == 0:
        return pd.DataFrame(columns=columns)
    # one run of template codes per deal, counted with numpy (engine.patterns)
    starts = np.flatnonzero(np.r_[True, deal[1:] != deal[:-1]])
    counts = count_patterns(
        codes.astype(np.int64),
        starts,
        won_flags[starts],
        settings.pattern_max_length,
        settings.pattern_min_occurrences,
    )
    baseline = float(won_flags[starts].mean())
    rows = [
        {"pattern": tuple(labels[list(c)].tolist()), "kind": kind, "length": len(c), "deals": n, "won": w}
        for kind, c, n, w in zip(counts.kind, counts.codes, counts.deals, counts.won, strict=True)
    ]
    # ties in (win_rate, deals) in a fixed order: kind, then pattern
    rows.sort(key=lambda r: (r["kind"], r["pattern"]))
    if not rows:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame(rows)
    out["win_rate"] = out["won"] / out["deals"]
    low, high = proportion_confint(out["won"], out["deals"], alpha=0.05, method="wilson")
    out["ci_low"], out["ci_high"] = low, high
    out["lift"] = out["win_rate"] - baseline
    order = out.sort_values(["win_rate", "deals"], ascending=[False, False], kind="stable")
    return order[columns].reset_index(drop=True)


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
    top = top_templates_by_segment(exposures, settings, prepared=frame)
    summary = per_deal.groupby("segment")["won"].agg(deals="size", won="sum").reset_index()
    summary["win_rate"] = summary["won"] / summary["deals"]
    segments = []
    for row in records(summary):
        seg_top = top[top["segment"] == row["segment"]].drop(columns=["segment", "segment_win_rate"])
        segments.append({**row, "top_templates": records(seg_top)})
    tests, cells = segment_interactions(exposures, deals, settings, prepared=frame)
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
        "top_templates": {seg["segment"]: seg["top_templates"] for seg in segments},
        "segment_winners": records(winners),
        "interaction_tests": records(tests),
        "sequence_patterns": pattern_records,
    }
