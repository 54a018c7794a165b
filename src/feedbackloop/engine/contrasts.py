"""Covariance of the adjusted template scores, for comparisons between templates.

When every deal receives several templates, the template indicators sum to (nearly) a multiple of the
intercept: individual scores are then pinned down mostly by the ridge penalty and have large standard
errors, while *differences* between templates ("better than the average template", "beats this
alternative") are estimated precisely. Treating scores as independent would hide that, so decisions use
the joint (Laplace) covariance: the inverse penalised Hessian of the core's deal-level model.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import linalg, special

from feedbackloop.engine.effects import deal_design, fit_ridge_logit
from feedbackloop.engine.settings import EngineSettings

__all__ = ["contrast_sd", "score_covariance"]


def score_covariance(
    exposures: pd.DataFrame, deals: pd.DataFrame | None, settings: EngineSettings
) -> pd.DataFrame | None:
    """Template × template covariance of the scores of :func:`adjusted_effects` (None when not fitted).

    Refits the same model (same design and penalty) and inverts its penalised Hessian at the optimum.
    """
    if len(exposures) == 0:
        return None
    design = deal_design(exposures, deals, settings)
    y = design.outcome
    if len(y) < settings.min_model_deals or y.min() == y.max():
        return None
    fit = fit_ridge_logit(design.matrix, y, design.penalty)
    x = sp.csr_matrix(design.matrix, dtype=float)
    mu = special.expit(x @ fit.coef)
    w = mu * (1 - mu)
    h = np.asarray((x.T @ sp.csr_matrix(x.multiply(w[:, None]))).toarray()) + np.diag(design.penalty)
    try:
        cov = linalg.cho_solve(linalg.cho_factor(h), np.eye(h.shape[0]))
    except linalg.LinAlgError:
        cov = np.linalg.pinv(h)
    block = slice(design.template_start, design.template_start + len(design.templates))
    ids = [str(t) for t in design.templates]
    return pd.DataFrame(cov[block, block], index=ids, columns=ids)


def contrast_sd(
    weights: Mapping[str, float], cov: pd.DataFrame | None, se: Mapping[str, float]
) -> float | None:
    """Standard deviation of Σ w_t·score_t: from ``cov`` when available, else assuming independence."""
    ids = [t for t, w in weights.items() if w != 0]
    if not ids:
        return None
    w = np.array([weights[t] for t in ids])
    if cov is not None and all(t in cov.index for t in ids):
        var = float(w @ cov.loc[ids, ids].to_numpy() @ w)
    else:
        values = np.array([se.get(t, np.nan) for t in ids], dtype=float)
        if not np.all(np.isfinite(values)):
            return None
        var = float(np.sum((w * values) ** 2))
    return float(np.sqrt(var)) if var > 0 else None
