"""Contrasts between adjusted template scores, using their joint covariance.

When every deal receives several templates, the template indicators sum to (nearly) a multiple of the
intercept: individual scores are then pinned down mostly by the ridge penalty and have large standard
errors, while *differences* between templates ("better than the average template", "beats this
alternative") are estimated precisely. Treating scores as independent would hide that, so decisions use
the joint (Laplace) covariance of the core's deal-level model (``adjusted_effects(...).attrs
["score_covariance"]``).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = ["contrast_sd"]


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
