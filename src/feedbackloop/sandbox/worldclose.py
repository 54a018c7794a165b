"""How simulated deals close: stage history, stage lost at, loss reasons, competitors, objection hints."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from feedbackloop.sandbox import worldtext as text

if TYPE_CHECKING:
    from feedbackloop.sandbox.worldmail import MailLog

__all__ = ["Closing", "close_deals"]

_LOSS_SHARE = np.array([0.22, 0.18, 0.2, 0.12, 0.13, 0.15])
_LOST_AT = np.array([0.35, 0.25, 0.2, 0.12, 0.08])
#: the competitor whose share of losses surges in the last weeks (for the competitor-surge alert)
SURGING_COMPETITOR = "Apollo"


def _or_none(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    out = np.full(len(mask), None, dtype=object)
    out[mask] = values[mask]
    return out


@dataclass
class Closing:
    loss_reason: np.ndarray
    competitor: np.ndarray
    stage_lost: np.ndarray
    objection_hint: np.ndarray
    history: pd.DataFrame


def close_deals(
    rng: np.random.Generator,
    won: np.ndarray,
    created: pd.DatetimeIndex,
    closed: pd.DatetimeIndex,
    mail: MailLog,
    deal_ids: np.ndarray,
    surge_after: pd.Timestamp | None = None,
) -> Closing:
    """Loss reasons, competitors, the stage each lost deal died in, and the stage history."""
    from feedbackloop.sandbox.worldgen import STAGES

    del mail
    n = len(won)
    reasons = np.asarray(list(text.LOSS_REASONS), dtype=object)
    reason = reasons[rng.choice(len(reasons), size=n, p=_LOSS_SHARE)]
    competitors = np.asarray(text.COMPETITORS, dtype=object)
    weights = np.full((n, len(competitors)), 1.0)
    if surge_after is not None:
        weights[closed >= surge_after, list(text.COMPETITORS).index(SURGING_COMPETITOR)] = 6.0
    u = rng.random(n)[:, None]
    pick = (u > (weights.cumsum(axis=1) / weights.sum(axis=1, keepdims=True))).sum(axis=1)
    named = competitors[np.minimum(pick, len(competitors) - 1)]
    lost = ~won
    has_competitor = np.where(
        lost, (reason == "Went with competitor") | (rng.random(n) < 0.08), rng.random(n) < 0.15
    )
    reached = np.where(won, len(_LOST_AT), rng.choice(len(_LOST_AT), size=n, p=_LOST_AT) + 1)
    stage_lost = _or_none(lost, np.asarray([s[1] for s in STAGES], dtype=object)[reached - 1])
    categories = np.asarray(list(text.OBJECTION_PHRASES), dtype=object)
    mapped = np.asarray([text.LOSS_REASONS[r] for r in reason], dtype=object)
    hint = np.where(lost & (rng.random(n) < 0.6), mapped, categories[rng.integers(len(categories), size=n)])

    span = (closed - created).to_numpy()
    rows_deal, rows_stage, rows_time = [], [], []
    for j in range(len(_LOST_AT)):
        mask = reached > j
        rows_deal.append(deal_ids[mask])
        rows_stage.append(np.full(int(mask.sum()), STAGES[j][0], dtype=object))
        rows_time.append((created[mask] + span[mask] * (j / reached[mask])).floor("s"))
    rows_deal.append(deal_ids)
    rows_stage.append(np.where(won, STAGES[-2][0], STAGES[-1][0]).astype(object))
    rows_time.append(closed)
    history = pd.DataFrame(
        {
            "deal_id": np.concatenate(rows_deal),
            "stage_id": np.concatenate(rows_stage),
            "entered_at": pd.concat([pd.Series(pd.DatetimeIndex(t)) for t in rows_time], ignore_index=True),
        }
    ).sort_values(["entered_at", "deal_id"], kind="stable", ignore_index=True)
    return Closing(
        loss_reason=_or_none(lost, reason),
        competitor=_or_none(has_competitor, named),
        stage_lost=stage_lost,
        objection_hint=hint,
        history=history,
    )
