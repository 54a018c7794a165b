"""Promote, deprecate, review or keep: the seed's criteria, computed from the adjusted score.

Every decision carries the seed's criteria dict (promote: ``min_sample_size``,
``statistical_significance``, ``outperforms_current``, ``recent_trend_positive``; deprecate:
``sufficient_sample``, ``below_threshold``, ``declining_trend``, ``outperformed_by_alternatives``), each
as ``{value, threshold, met}``, plus the numbers behind them.

Why the adjusted score: raw win rates are confounded by segment mix and by templates that share
sequences, so a good template that mostly goes to hard segments looks bad. Deprecation therefore rests on
the posterior probability that the template's adjusted effect is *below the average template of its
slot* (the sequence step it is used at: only same-step contrasts are identified; normal approximation
around ``score`` ± ``score_se``, centred on the slot's mean score) and on the template being beaten
by an alternative; a significant decline alone sends a template to ``review``, never to ``deprecated``.

With dozens of templates a few near-average ones reach P ≥ 0.95 by chance, so the probability criteria
(``statistical_significance``, ``below_threshold``) also need the multiplicity-corrected q-value of the
same one-sided comparison (Holm by default, or BH, across the templates with enough deals:
``decision_correction``) to be at most 1 − the threshold when a template *enters* promoted or
deprecated; both numbers are in the decision. Staying only needs the exit probability.

Hysteresis: a status is entered at the strict probability (0.95) and left only when the probability
falls below the exit level (0.80), and an engine-set status is held at least ``min_status_runs`` runs and
``min_status_days`` days. Pinned templates keep their status; their decision is still reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from feedbackloop.domain import DecisionAction, TemplateStatus
from feedbackloop.engine.contrasts import alternative_probs, centred_scores, contrast_sd, nan_if_none
from feedbackloop.engine.multiplicity import Method, adjust
from feedbackloop.engine.result import INSUFFICIENT_DATA, OK, PreviousState, TemplateState
from feedbackloop.engine.settings import EngineSettings

__all__ = ["DEPRECATE_CRITERIA", "PROMOTE_CRITERIA", "Decision", "decide"]

PROMOTE_CRITERIA = (
    "min_sample_size",
    "statistical_significance",
    "outperforms_current",
    "recent_trend_positive",
)
DEPRECATE_CRITERIA = (
    "sufficient_sample",
    "below_threshold",
    "declining_trend",
    "outperformed_by_alternatives",
)
ANY_SLOT = "any"
_HELD = {TemplateStatus.PROMOTED.value, TemplateStatus.DEPRECATED.value, TemplateStatus.REVIEW.value}


@dataclass(frozen=True, slots=True)
class Decision:
    """The engine's verdict on one template in one run."""

    template_id: str
    action: str
    status: str
    previous_status: str
    changed: bool
    pinned: bool
    criteria: dict[str, dict[str, Any]]
    numbers: dict[str, Any]
    reason: str
    data_status: str
    state: TemplateState = field(default_factory=lambda: TemplateState("active"))


def _num(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _flag(value: Any) -> bool:
    return (
        value is not None
        and value is not pd.NA
        and not (isinstance(value, float) and math.isnan(value))
        and bool(value)
    )


@dataclass(frozen=True, slots=True)
class _Context:
    scored: pd.DataFrame
    promoted_ids: list[str]
    settings: EngineSettings
    as_of: datetime
    cov: pd.DataFrame | None


def _criterion(value: Any, threshold: Any, met: bool) -> dict[str, Any]:
    return {"value": value, "threshold": threshold, "met": bool(met)}


def _fdr_ok(q: float | None, threshold: float, settings: EngineSettings) -> bool:
    """The multiplicity condition for entering a status (always true with ``decision_correction="none"``)."""
    return settings.decision_correction == "none" or (q is not None and q <= 1 - threshold)


def _prob_greater(diff: float, sd: float) -> float:
    return float(stats.norm.cdf(diff / sd)) if sd > 0 else float(diff > 0)


def decide(
    table: pd.DataFrame,
    templates: pd.DataFrame,
    settings: EngineSettings,
    as_of: datetime,
    *,
    previous: PreviousState | None = None,
    cov: pd.DataFrame | None = None,
) -> list[Decision]:
    """Decide every template in ``templates`` (those without statistics get ``keep``).

    ``table`` is indexed by template_id with deals, score, score_se, posterior_mean,
    p_beats_baseline, relative_change, q_value and declining (missing columns or values are treated
    as unknown). ``templates`` has template_id, status and pinned. ``cov`` is the joint covariance of
    the scores (:func:`~feedbackloop.engine.contrasts.score_covariance`); without it the scores are
    treated as independent. "The average template" is the mean score of the templates with at least
    ``min_sample_size`` deals.
    """
    table = table.copy()
    for column in ("deals", "score", "score_se", "posterior_mean", "p_beats_baseline"):
        if column not in table:
            table[column] = np.nan
    for column in ("relative_change", "q_value"):
        if column not in table:
            table[column] = np.nan
    if "declining" not in table:
        table["declining"] = False
    table.index = table.index.astype(str)
    # Only templates used at the same sequence step (their slot) are comparable: the "average
    # template" and the alternatives are those of the template's slot. No slot column: one slot.
    table["slot"] = table["slot"].fillna(ANY_SLOT).astype(str) if "slot" in table else ANY_SLOT
    sufficient = pd.to_numeric(table["deals"], errors="coerce").fillna(0) >= settings.min_sample_size
    finite = pd.to_numeric(table["score"], errors="coerce").notna()
    reference = [str(t) for t in table.index[sufficient & finite]]
    table["centred"], table["centred_se"] = centred_scores(table, reference, cov)
    scored = table[sufficient & table["centred"].notna() & table["centred_se"].notna()]
    # Multiplicity: with dozens of templates, a few near-average ones pass P ≥ 0.95 by chance. The
    # one-sided p-values of "worse"/"better than average" are corrected across the scored templates
    # (BH or Holm); a criterion needs both the posterior probability and the corrected q-value.
    table["q_worse"], table["q_better"] = np.nan, np.nan
    if len(scored):
        p_better = stats.norm.cdf(scored["centred"] / scored["centred_se"])
        method: Method = "bh" if settings.decision_correction == "bh" else "holm"
        table.loc[scored.index, "q_worse"] = adjust(p_better, method)
        table.loc[scored.index, "q_better"] = adjust(1 - p_better, method)
    current = {
        str(r.template_id): (str(r.status or "active"), bool(r.pinned))
        for r in templates[["template_id", "status", "pinned"]].fillna({"pinned": False}).itertuples()
    }
    promoted_ids = [t for t, (s, _) in current.items() if s == TemplateStatus.PROMOTED.value]
    prev_states = previous.templates if previous else {}
    ctx = _Context(scored, promoted_ids, settings, as_of, cov)
    rows: dict[str, dict[str, Any]] = {
        str(k): {str(c): x for c, x in v.items()} for k, v in table.to_dict(orient="index").items()
    }
    out = []
    for template_id in sorted(current):
        status, pinned = current[template_id]
        values = {"status": status, "pinned": pinned, **rows.get(template_id, {})}
        out.append(_decide_one(template_id, values, prev_states.get(template_id), ctx))
    return out


def _decide_one(
    template_id: str, values: dict[str, Any], prev: TemplateState | None, ctx: _Context
) -> Decision:
    settings, as_of, scored, promoted_ids = ctx.settings, ctx.as_of, ctx.scored, ctx.promoted_ids
    status, pinned = str(values["status"]), bool(values["pinned"])

    def get(key: str) -> float | None:
        return _num(values.get(key))

    deals = int(get("deals") or 0)
    d, sd = get("centred"), get("centred_se")
    declining = _flag(values.get("declining"))
    p_better = _prob_greater(d, sd) if d is not None and sd is not None else None
    p_worse = None if p_better is None else 1 - p_better
    q_worse, q_better = get("q_worse"), get("q_better")

    # Current best alternatives: the strongest other scored template, and the promoted ones.
    my_slot = str(values.get("slot") or ANY_SLOT)
    others = scored[scored["slot"] == my_slot].drop(index=template_id, errors="ignore")
    se = {str(k): float(v) for k, v in scored["score_se"].items()}
    se[template_id] = nan_if_none(get("score_se"))
    alt_probs = alternative_probs(template_id, d, others, se, ctx.cov) if d is not None else {}
    best_alt = max(alt_probs, key=lambda a: alt_probs[a]) if alt_probs else None
    ref_ids = [
        p for p in promoted_ids if p != template_id and p in scored.index and scored.at[p, "slot"] == my_slot
    ]
    if d is not None and sd is not None and ref_ids:
        ref_mean = float(scored.loc[ref_ids, "centred"].mean())
        weights = dict.fromkeys(ref_ids, -1 / len(ref_ids))
        weights[template_id] = 1.0
        ref_sd = contrast_sd(weights, ctx.cov, se)
        p_outperforms: float | None = None if ref_sd is None else _prob_greater(d - ref_mean, ref_sd)
    else:
        p_outperforms = p_better

    promoted_now = status == TemplateStatus.PROMOTED.value
    deprecated_now = status == TemplateStatus.DEPRECATED.value
    promote_threshold = settings.promote_exit_probability if promoted_now else settings.promote_probability
    deprecate_threshold = (
        settings.deprecate_exit_probability if deprecated_now else settings.deprecate_probability
    )
    # The comparisons with alternatives get the same hysteresis as the main probabilities.
    outperformed_threshold = (
        settings.deprecate_exit_probability if deprecated_now else settings.outperform_probability
    )
    outperforms_threshold = (
        settings.promote_exit_probability if promoted_now else settings.outperform_probability
    )
    strong_alts = [a for a, p in alt_probs.items() if p >= outperformed_threshold]
    enough = deals >= settings.min_sample_size and p_better is not None
    rel, q = get("relative_change"), get("q_value")
    criteria = {
        "min_sample_size": _criterion(deals, settings.min_sample_size, enough),
        "statistical_significance": _criterion(
            p_better,
            promote_threshold,
            p_better is not None
            and p_better >= promote_threshold
            and (promoted_now or _fdr_ok(q_better, promote_threshold, settings)),
        ),
        "outperforms_current": _criterion(
            p_outperforms,
            outperforms_threshold,
            p_outperforms is not None and p_outperforms >= outperforms_threshold,
        ),
        "recent_trend_positive": _criterion(rel, -settings.relative_drop, not declining),
        "sufficient_sample": _criterion(deals, settings.min_sample_size, enough),
        "below_threshold": _criterion(
            p_worse,
            deprecate_threshold,
            p_worse is not None
            and p_worse >= deprecate_threshold
            and (deprecated_now or _fdr_ok(q_worse, deprecate_threshold, settings)),
        ),
        "declining_trend": _criterion(q, settings.alpha, declining),
        "outperformed_by_alternatives": _criterion(
            alt_probs.get(best_alt) if best_alt else None, outperformed_threshold, bool(strong_alts)
        ),
    }
    met = {k: v["met"] for k, v in criteria.items()}
    numbers = {
        "deals": deals,
        "score": get("score"),
        "score_se": get("score_se"),
        "centred_score": d,
        "centred_se": sd,
        "p_better_than_average": p_better,
        "p_worse_than_average": p_worse,
        "q_worse_than_average": q_worse,
        "q_better_than_average": q_better,
        "posterior_mean": get("posterior_mean"),
        "p_beats_baseline": get("p_beats_baseline"),
        "best_alternative": best_alt,
        "p_best_alternative_better": alt_probs.get(best_alt) if best_alt else None,
        "better_alternatives": len(strong_alts),
        "relative_change": rel,
        "q_value": q,
    }

    if not enough:
        action, target, reason = DecisionAction.KEEP, status, "not enough closed deals to decide"
    elif all(met[c] for c in DEPRECATE_CRITERIA if c != "declining_trend"):
        action, target = DecisionAction.DEPRECATE, TemplateStatus.DEPRECATED.value
        reason = (
            f"P(worse than the average template) = {p_worse:.3f} and {len(strong_alts)} better alternatives"
        )
    elif all(met[c] for c in PROMOTE_CRITERIA):
        action, target = DecisionAction.PROMOTE, TemplateStatus.PROMOTED.value
        reason = f"P(better than the average template) = {p_better:.3f}"
    elif declining:
        action, target = DecisionAction.REVIEW, TemplateStatus.REVIEW.value
        reason = "significant decline of the recent win rate; check before deprecating"
    elif deprecated_now:
        action, target = DecisionAction.REVIEW, TemplateStatus.REVIEW.value
        reason = "no longer clearly worse than average; back to review"
    elif status in _HELD:
        action, target = DecisionAction.KEEP, TemplateStatus.ACTIVE.value
        reason = f"criteria for {status!r} no longer met"
    else:
        action, target, reason = DecisionAction.KEEP, status, "no criterion met"

    since_prev = prev if prev is not None and prev.status == status else None
    runs = since_prev.runs_in_status if since_prev else 0
    since = since_prev.since if since_prev and since_prev.since else as_of
    if target != status and status in _HELD and not pinned:
        days = (as_of - since).total_seconds() / 86400
        if runs < settings.min_status_runs or days < settings.min_status_days:
            reason += f" (status {status!r} held: {runs} run(s), {max(days, 0):.0f} day(s) so far)"
            target = status
    if pinned:
        if target != status:
            reason += f" (pinned: status stays {status!r})"
        target = status
    changed = target != status
    state = TemplateState(target, as_of, 1) if changed else TemplateState(status, since, runs + 1)
    return Decision(
        template_id=template_id,
        action=action.value,
        status=target,
        previous_status=status,
        changed=changed,
        pinned=pinned,
        criteria=criteria,
        numbers=numbers,
        reason=reason,
        data_status=OK if enough else INSUFFICIENT_DATA,
        state=state,
    )
