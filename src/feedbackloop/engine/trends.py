"""Declining templates: the seed's 30-day vs 60–90-day comparison, made honest.

The seed flags a template when its raw win rate over deals closed in the last ``recent_days`` is at least
``relative_drop`` (20%) below its raw rate over deals closed ``historical_start_days``–
``historical_end_days`` ago. That rule (``raw_rule_fired``) also fires on every template that shares
sequences or segments with a template that really declined, and on noise.

Here a template is ``declining`` only when, in addition to the raw drop, its *own* change is significant:
one deal-level logistic model over both windows holds template indicators, covariates (segment, sequence
depth), a ``recent`` main effect (a drop common to all templates is the market, not the template) and a
template × recent interaction δ_t per template. As for the scores (see :mod:`.effects`), only changes
relative to the other templates of the same sequence step are identified, so ``change`` is δ_t minus the
mean δ of its slot, with its standard error from the joint covariance. Each testable template gets a
one-sided test of change < 0 (p = Φ(change / se)), and the p-values are corrected across templates with
Holm or Benjamini–Hochberg (``fdr_method``) at ``alpha``.

The model's reference period is, by default, everything closed 60–365 days before ``as_of``
(``trend_reference_days``) rather than only the 60–90-day window: the template's earlier effect is then
known far more precisely, which roughly doubles the power of the test against a 30-day recent window
(reported raw rates and the raw rule keep the seed's windows). ``trend_reference_days=None`` restores the
seed's window for the test too.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from scipy.stats import norm

from feedbackloop.engine.effects import deal_design, fit_ridge_logit
from feedbackloop.engine.exposure import naive_utc
from feedbackloop.engine.multiplicity import adjust
from feedbackloop.engine.settings import EngineSettings
from feedbackloop.errors import EngineError

__all__ = ["TREND_COLUMNS", "detect_declines", "trend_windows"]

TREND_COLUMNS = (
    "recent_deals",
    "recent_win_rate",
    "historical_deals",
    "historical_win_rate",
    "relative_change",
    "change",
    "change_se",
    "p_value",
    "q_value",
    "declining",
    "raw_rule_fired",
    "data_status",
)


def trend_windows(
    closed_at: pd.Series, settings: EngineSettings, as_of: datetime
) -> tuple[np.ndarray, np.ndarray]:
    """Masks of rows closed in the recent window (as_of − recent_days, as_of] and the historical window
    (as_of − historical_start_days, as_of − historical_end_days]."""
    if as_of.tzinfo is None:
        raise EngineError("as_of must be a timezone-aware datetime (UTC)")
    now = np.datetime64(pd.Timestamp(as_of).tz_convert("UTC").tz_localize(None))
    t = naive_utc(closed_at)

    def days(d: int) -> np.timedelta64:
        return np.timedelta64(timedelta(days=d))

    recent = (t > now - days(settings.recent_days)) & (t <= now)
    historical = (t > now - days(settings.historical_start_days)) & (
        t <= now - days(settings.historical_end_days)
    )
    return np.asarray(recent, dtype=bool), np.asarray(historical, dtype=bool)


def _window_counts(
    exposures: pd.DataFrame, mask: np.ndarray, index: pd.Index
) -> tuple[np.ndarray, np.ndarray]:
    sub = exposures.loc[mask]
    grouped = sub.groupby("template_id")["won"].agg(["size", "sum"]).reindex(index, fill_value=0)
    return grouped["size"].to_numpy(dtype=np.int64), grouped["sum"].to_numpy(dtype=np.int64)


def detect_declines(
    exposures: pd.DataFrame, deals: pd.DataFrame | None, settings: EngineSettings, as_of: datetime
) -> pd.DataFrame:
    """Per template: window counts and raw rates, the adjusted change and its test, ``declining``.

    Indexed by template_id (every template in ``exposures``). ``p_value`` is one-sided (a drop), ``q_value``
    its multiplicity-adjusted value; both NaN for untested templates. ``data_status``: ``ok`` (tested),
    ``no_closed_deals`` (nothing in either window), ``insufficient_data`` (fewer than ``min_window_deals``
    in a window, or too few deals overall), ``no_variation`` (all deals in the windows won, or all lost),
    ``no_comparison`` (the only template at its sequence step: its change cannot be told from the step's).
    """
    index = pd.Index(
        sorted(exposures["template_id"].unique()) if len(exposures) else [], dtype=object, name="template_id"
    )
    recent, historical = trend_windows(exposures["closed_at"], settings, as_of)
    r_n, r_w = _window_counts(exposures, recent, index)
    h_n, h_w = _window_counts(exposures, historical, index)
    with np.errstate(divide="ignore", invalid="ignore"):
        r_rate = np.where(r_n > 0, r_w / np.maximum(r_n, 1), np.nan)
        h_rate = np.where(h_n > 0, h_w / np.maximum(h_n, 1), np.nan)
        rel = np.where(h_rate > 0, (r_rate - h_rate) / h_rate, np.nan)
    raw_fired = np.nan_to_num(rel, nan=0.0) <= -settings.relative_drop
    status = np.where(
        (r_n == 0) & (h_n == 0),
        "no_closed_deals",
        np.where(
            (r_n < settings.min_window_deals) | (h_n < settings.min_window_deals), "insufficient_data", "ok"
        ),
    ).astype(object)
    change = np.full(len(index), np.nan)
    change_se = np.full(len(index), np.nan)
    p_value = np.full(len(index), np.nan)
    q_value = np.full(len(index), np.nan)
    reference = historical
    if settings.trend_reference_days is not None:
        wide = settings.model_copy(update={"historical_start_days": settings.trend_reference_days})
        reference = trend_windows(exposures["closed_at"], wide, as_of)[1]
    in_window = recent | reference
    window = exposures.loc[in_window]
    tested = status == "ok"
    if tested.any():
        deal_key = "deal_index" if "deal_index" in window.columns else "deal_id"
        y = window.drop_duplicates(deal_key)["won"].to_numpy(dtype=bool)
        if len(y) < settings.min_model_deals:
            status[tested] = "insufficient_data"
        elif y.all() or not y.any():
            status[tested] = "no_variation"
        else:
            design = deal_design(window, deals, settings, period=pd.Series(recent[in_window]))
            fit = fit_ridge_logit(design.matrix, design.outcome, design.penalty)
            start = int(design.interaction_start or 0)
            block = slice(start, start + len(design.templates))
            centring = design.centring()
            centred = centring @ fit.coef[block]
            centred_se = np.sqrt(np.maximum(np.diag(centring @ fit.covariance[block, block] @ centring.T), 0))
            alone = pd.Series(design.slots).map(pd.Series(design.slots).value_counts()).to_numpy() == 1
            centred[alone] = centred_se[alone] = np.nan
            where = design.templates.get_indexer(index)
            present = where >= 0
            change[present], change_se[present] = centred[where[present]], centred_se[where[present]]
            status[tested & ~np.isfinite(change)] = "no_comparison"
        tested = status == "ok"
        if tested.any():
            p_value[tested] = norm.cdf(change[tested] / change_se[tested])
            q_value[tested] = adjust(p_value[tested], settings.fdr_method)
    declining = (status == "ok") & (np.nan_to_num(q_value, nan=1.0) < settings.alpha) & raw_fired
    return pd.DataFrame(
        {
            "recent_deals": r_n,
            "recent_win_rate": r_rate,
            "historical_deals": h_n,
            "historical_win_rate": h_rate,
            "relative_change": rel,
            "change": change,
            "change_se": change_se,
            "p_value": p_value,
            "q_value": q_value,
            "declining": declining,
            "raw_rule_fired": raw_fired,
            "data_status": status,
        },
        index=index,
    )
