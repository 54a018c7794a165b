"""L2-penalised logistic regression by Newton–Raphson on a sparse design, with exact row collapsing.

Deals that share a design row (same segment, depth, templates, …) are merged into one binomial row
(successes out of trials) before fitting: the likelihood, its gradient and Hessian are unchanged, and
with sequences fixing which templates a deal gets, 250k deals collapse to a few thousand rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy import linalg, special

__all__ = ["LogitFit", "collapse_rows", "fit_ridge_logit"]

# Seed of the row hash's column codes (fixed: no global randomness, the same on every run).
_SALT = 0x9E3779B97F4A7C15


@dataclass(frozen=True)
class LogitFit:
    """Result of :func:`fit_ridge_logit`."""

    coef: np.ndarray
    se: np.ndarray
    covariance: np.ndarray  # inverse penalised Hessian at the optimum (Laplace posterior covariance)
    loglik: float  # unpenalised log-likelihood at the optimum
    n_iter: int
    converged: bool


def collapse_rows(x: sp.csr_matrix, y: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Merge identical rows of ``x``: (unique rows, successes per row, trials per row).

    Rows are grouped by a 64-bit hash of their (column, value) entries, then the grouping is verified
    exactly; on a (practically impossible) hash collision nothing is merged.
    """
    x = sp.csr_matrix(x, dtype=float)
    x.sum_duplicates()
    x.eliminate_zeros()
    n, p = x.shape
    if n == 0:
        return x, np.asarray(y, dtype=float), np.ones(0)
    col_code = np.random.default_rng(_SALT).integers(1, 2**63, size=p, dtype=np.uint64)
    with np.errstate(over="ignore"):
        contrib = col_code[x.indices] * (x.data.view(np.uint64) | np.uint64(1))
        total = np.concatenate([[np.uint64(0)], np.cumsum(contrib, dtype=np.uint64)])
        keys = total[x.indptr[1:]] - total[x.indptr[:-1]]
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    inverse = inverse.ravel()
    unique = sp.csr_matrix(x[first])
    if (x - unique[inverse]).count_nonzero() != 0:
        return x, np.asarray(y, dtype=float), np.ones(n)
    successes = np.bincount(inverse, weights=np.asarray(y, dtype=float), minlength=len(first))
    trials = np.bincount(inverse, minlength=len(first)).astype(float)
    return unique, successes, trials


def fit_ridge_logit(
    design: sp.spmatrix | np.ndarray,
    y: np.ndarray,
    penalty: np.ndarray,
    *,
    max_iter: int = 100,
    tol: float = 1e-10,
) -> LogitFit:
    """Maximise Σ log-lik − ½·Σ penalty_j·β_j² by Newton–Raphson; SEs from the penalised Hessian.

    ``y`` is 0/1 per row of ``design``; ``penalty`` holds one precision per column (0 = unpenalised).
    Never raises on singular problems: a pseudo-inverse is used and ``converged`` reports whether the
    Newton steps vanished.
    """
    x, s, m = collapse_rows(sp.csr_matrix(design, dtype=float), np.asarray(y, dtype=float))
    xt = sp.csr_matrix(x.T)
    pen = np.asarray(penalty, dtype=float)
    coef = np.zeros(x.shape[1])

    def loglik(eta: np.ndarray) -> float:
        return float(np.sum(s * eta - m * np.logaddexp(0.0, eta)))

    def objective(b: np.ndarray) -> tuple[float, np.ndarray]:
        eta = x @ b
        return loglik(eta) - 0.5 * float(np.sum(pen * b * b)), eta

    def hessian(eta: np.ndarray) -> np.ndarray:
        mu = special.expit(eta)
        weighted = xt.copy()
        weighted.data *= (m * mu * (1 - mu))[xt.indices]
        return np.asarray((weighted @ x).toarray()) + np.diag(pen)

    value, eta = objective(coef)
    converged, n_iter = False, 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 - n_iter is reported
        grad = xt @ (s - m * special.expit(eta)) - pen * coef
        h = hessian(eta)
        try:
            step = linalg.cho_solve(linalg.cho_factor(h), grad)
        except linalg.LinAlgError:
            step = np.linalg.lstsq(h, grad, rcond=None)[0]
        scale = 1.0
        for _ in range(40):
            new_value, new_eta = objective(coef + scale * step)
            if new_value >= value - 1e-12 * abs(value):
                break
            scale /= 2
        coef = coef + scale * step
        value, eta = new_value, new_eta
        if np.max(np.abs(scale * step)) < tol * (1 + np.max(np.abs(coef))):
            converged = True
            break
    h = hessian(eta)
    try:
        cov = linalg.cho_solve(linalg.cho_factor(h), np.eye(len(coef)))
    except linalg.LinAlgError:
        cov = np.linalg.pinv(h)
    return LogitFit(coef, np.sqrt(np.maximum(np.diag(cov), 0.0)), cov, loglik(eta), n_iter, converged)
