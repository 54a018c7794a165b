"""Contrasts between adjusted template scores, using their joint covariance.

When every deal receives several templates, the template indicators sum to (nearly) a multiple of the
intercept: individual scores are then pinned down mostly by the ridge penalty and have large standard
errors, while *differences* between templates ("better than the average template", "beats this
alternative") are estimated precisely. Treating scores as independent would hide that, so decisions use
the joint (Laplace) covariance of the core's deal-level model (``adjusted_effects(...).attrs
["score_covariance"]``). Comparisons are made within a template's slot (the sequence step it is
used at), the only contrasts the deal-level model identifies.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from scipy import special

__all__ = ["alternative_probs", "centred_scores", "contrast_sd", "nan_if_none"]


def contrast_sd(
    weights: Mapping[str, float], cov: pd.DataFrame | None, se: Mapping[str, float]
) -> float | None:
    """Standard deviation of Σ w_t·score_t: from ``cov`` when available, else assuming independence."""
    ids = [t for t, w in weights.items() if w != 0]
    if not ids:
        return None
    w = np.array([weights[t] for t in ids])
    pos = cov.index.get_indexer(pd.Index(ids)) if cov is not None else None
    if cov is not None and pos is not None and (pos >= 0).all():
        var = float(w @ cov.to_numpy()[np.ix_(pos, pos)] @ w)
    else:
        values = np.array([se.get(t, np.nan) for t in ids], dtype=float)
        if not np.all(np.isfinite(values)):
            return None
        var = float(np.sum((w * values) ** 2))
    return float(np.sqrt(var)) if var > 0 else None


def nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else value


def centred_scores(
    table: pd.DataFrame, reference: list[str], cov: pd.DataFrame | None
) -> tuple[pd.Series, pd.Series]:
    """Scores minus the mean score of the ``reference`` templates of the same slot, and the SD of
    that contrast (NaN where the slot has no reference template)."""
    score = pd.to_numeric(table["score"], errors="coerce")
    se = {str(k): float(v) for k, v in pd.to_numeric(table["score_se"], errors="coerce").items()}
    slot = table["slot"]
    centred = pd.Series(np.nan, index=table.index)
    sd = pd.Series(np.nan, index=table.index)
    for t in table.index[score.notna()]:
        peers = [r for r in reference if slot[r] == slot[t]]
        if not peers:
            continue
        weights = dict.fromkeys(peers, -1 / len(peers))
        weights[str(t)] = weights.get(str(t), 0.0) + 1.0
        centred[t] = float(score[t]) - float(score[peers].mean())
        sd[t] = nan_if_none(contrast_sd(weights, cov, se))
    return centred, sd


def alternative_probs(
    template_id: str, d: float, others: pd.DataFrame, se: dict[str, float], cov: pd.DataFrame | None
) -> dict[str, float]:
    """P(alternative a beats the template) for every scored alternative (vectorised contrasts)."""
    if others.empty:
        return {}
    ids = [str(a) for a in others.index]
    pos = cov.index.get_indexer(pd.Index([*ids, template_id])) if cov is not None else None
    if cov is not None and pos is not None and (pos >= 0).all():
        c = cov.to_numpy()
        a, t = pos[:-1], pos[-1]
        var = c[a, a] + c[t, t] - 2 * c[a, t]
    else:
        var = np.array([se.get(i, np.nan) ** 2 for i in ids]) + se.get(template_id, np.nan) ** 2
    diff = others["centred"].to_numpy(dtype=float) - d
    with np.errstate(invalid="ignore", divide="ignore"):
        p = special.ndtr(diff / np.sqrt(var))
    return {i: float(v) for i, v, w in zip(ids, p, var, strict=True) if np.isfinite(v) and w > 0}
