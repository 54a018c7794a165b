"""Attribution: how much of each closed deal's outcome every template it received gets credit for.

Weights are defined over a deal's templated touches (outbound messages ordered by send time) and summed
per template. ``full`` is the seed's recipe: every distinct template of the deal gets the whole outcome
(so credits sum to the number of templates). The other models split one outcome across the touches:

- ``first`` / ``last``: the first / last touch gets everything;
- ``linear``: every touch gets 1/n;
- ``position`` (U-shaped): first and last 40% each, the middle touches share 20%; one touch gets 100%,
  two touches get 50% each;
- ``time_decay``: weight ∝ 2^(−age/half-life), age = time from the touch to the deal's close.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

from feedbackloop.engine.exposure import Touches, naive_utc
from feedbackloop.engine.settings import EngineSettings
from feedbackloop.errors import EngineError

__all__ = ["ATTRIBUTION_COLUMNS", "ATTRIBUTION_MODELS", "AttributionModel", "attribute", "touch_weights"]

AttributionModel = Literal["full", "first", "last", "linear", "position", "time_decay"]
ATTRIBUTION_MODELS: tuple[AttributionModel, ...] = (
    "full",
    "first",
    "last",
    "linear",
    "position",
    "time_decay",
)
ATTRIBUTION_COLUMNS = ("template_id", "model", "deals", "wins", "losses", "revenue")

_DAY_NS = 86_400e9


def touch_weights(
    model: str,
    deal: np.ndarray,
    template: np.ndarray,
    age_days: np.ndarray,
    half_life_days: float,
) -> np.ndarray:
    """Credit of each touch under ``model``; touches must be sorted by deal, then send time.

    ``deal`` and ``template`` are integer codes per touch, ``age_days`` the days from the touch to the
    deal's close (NaN when unknown: such touches count as at close).
    """
    n_touch = len(deal)
    if n_touch == 0:
        return np.zeros(0)
    starts = np.r_[True, deal[1:] != deal[:-1]]
    group = np.cumsum(starts) - 1
    first_index = np.flatnonzero(starts)
    n = np.bincount(group)[group]
    rank = np.arange(n_touch) - first_index[group]
    if model == "full":
        pair = deal.astype(np.int64) * (int(template.max()) + 1) + template
        _, first_of_pair = np.unique(pair, return_index=True)
        weights = np.zeros(n_touch)
        weights[first_of_pair] = 1.0
        return weights
    if model == "first":
        return np.asarray(rank == 0, dtype=float)
    if model == "last":
        return np.asarray(rank == n - 1, dtype=float)
    if model == "linear":
        return np.asarray(1.0 / n, dtype=float)
    if model == "position":
        middle = np.where(n > 2, 0.2 / np.maximum(n - 2, 1), 0.0)
        ends = np.where(n == 1, 1.0, np.where(n == 2, 0.5, 0.4))
        return np.where((rank == 0) | (rank == n - 1), ends, middle)
    if model == "time_decay":
        age = np.nan_to_num(np.maximum(age_days, 0.0), nan=0.0)
        raw = np.exp2(-age / half_life_days)
        return np.asarray(raw / np.bincount(group, weights=raw)[group], dtype=float)
    raise EngineError(f"unknown attribution model {model!r}; choose one of {', '.join(ATTRIBUTION_MODELS)}")


def attribute(
    deals: pd.DataFrame,
    messages: pd.DataFrame,
    settings: EngineSettings,
    models: tuple[str, ...] = ATTRIBUTION_MODELS,
    *,
    touches: Touches | None = None,
) -> pd.DataFrame:
    """Attributed deals, wins, losses and won revenue per template under each model (long format).

    Columns: template_id, model, deals, wins, losses, revenue (floats). Revenue counts won deals' amounts
    only (a missing amount counts as 0). Rows are sorted by model (in ``models`` order), then template.
    ``touches``, when given, must have been built from these ``deals`` and ``messages``.
    """
    touches = touches or Touches.build(deals, messages, settings)
    cd, msgs = touches.deals, touches.messages
    if len(msgs) == 0:
        return pd.DataFrame(
            {
                c: pd.Series(dtype=object if c in ("template_id", "model") else float)
                for c in ATTRIBUTION_COLUMNS
            }
        )
    order = touches.order  # by deal, then send time and position
    deal, sent = msgs["deal_row"].to_numpy()[order], naive_utc(msgs["sent_at"])[order]
    codes, names = touches.template_codes[order], touches.template_names
    closed = naive_utc(cd["closed_at"])[deal]
    age_days = (closed - sent).astype("timedelta64[ns]").astype(np.int64) / _DAY_NS
    age_days[np.isnat(closed) | np.isnat(sent)] = np.nan
    won = cd["won"].to_numpy(dtype=bool)[deal]
    amount = np.nan_to_num(cd["amount"].to_numpy(dtype=float)[deal], nan=0.0)
    frames = []
    for model in models:
        w = touch_weights(model, deal, codes, age_days, settings.attribution_half_life_days)
        size = len(names)
        frames.append(
            pd.DataFrame(
                {
                    "template_id": np.asarray(names, dtype=object),
                    "model": model,
                    "deals": np.bincount(codes, weights=w, minlength=size),
                    "wins": np.bincount(codes, weights=w * won, minlength=size),
                    "losses": np.bincount(codes, weights=w * ~won, minlength=size),
                    "revenue": np.bincount(codes, weights=w * won * amount, minlength=size),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
