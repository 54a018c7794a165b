"""Template statistics: wins and losses per template, shrunk by an empirical-Bayes Beta prior.

Each template's win rate p_t gets a Beta(α₀ + won, β₀ + lost) posterior. The prior Beta(α₀, β₀) is fitted
across templates by maximising the Beta-binomial marginal likelihood (started from the method of moments),
so templates with few deals are pulled toward what templates typically achieve. The prior strength
α₀ + β₀ is clamped to ``[prior_min_strength, prior_max_strength]``: when templates look homogeneous the
MLE runs off to infinity (complete pooling), and with two or fewer templates or no variation there is
nothing to estimate, so a weak prior centred on the pooled rate is used instead.

"Beats the baseline" is P(p_t > b | data) with b the deal-level win rate of all deals that received any
template, taken as known: it is estimated from every deal, far more precisely than any one template.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import optimize, special
from scipy.stats import beta as beta_dist

from feedbackloop.engine.settings import DataStatus, EngineSettings

__all__ = [
    "TEMPLATE_STATS_COLUMNS",
    "BetaPrior",
    "TemplateStats",
    "baseline_stats",
    "beta_binomial_loglik",
    "fit_beta_prior",
    "template_stats",
]

TEMPLATE_STATS_COLUMNS = (
    "deals",
    "won",
    "lost",
    "win_rate",
    "alpha",
    "beta",
    "posterior_mean",
    "ci_low",
    "ci_high",
    "p_beats_baseline",
    "data_status",
)


@dataclass(frozen=True, slots=True)
class TemplateStats:
    """Sufficient statistics of a template's outcomes; they add across periods and segments."""

    won: int = 0
    lost: int = 0

    def __add__(self, other: TemplateStats) -> TemplateStats:
        return TemplateStats(self.won + other.won, self.lost + other.lost)

    @property
    def deals(self) -> int:
        return self.won + self.lost

    @property
    def win_rate(self) -> float:
        """Raw win rate, NaN without deals."""
        return self.won / self.deals if self.deals else float("nan")


@dataclass(frozen=True, slots=True)
class BetaPrior:
    """A fitted Beta(alpha, beta) prior, how it was obtained and whether the fit was possible."""

    alpha: float
    beta: float
    method: str  # "mle", "pooled" (fallback centred on the pooled rate) or "uniform" (no data)
    status: DataStatus

    @property
    def strength(self) -> float:
        return self.alpha + self.beta

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)


def beta_binomial_loglik(alpha: float, beta: float, won: ArrayLike, deals: ArrayLike) -> float:
    """Beta-binomial log-likelihood of (won, deals) per template, without the binomial coefficients."""
    k, n = np.asarray(won, dtype=float), np.asarray(deals, dtype=float)
    return float(np.sum(special.betaln(alpha + k, beta + n - k) - special.betaln(alpha, beta)))


def _moments_strength(k: np.ndarray, n: np.ndarray, mean: float) -> float:
    """Method-of-moments prior strength from the between-template variance of win rates."""
    rates = k / n
    var = float(np.var(rates, ddof=1)) if len(rates) > 1 else 0.0
    binomial_part = float(np.mean(mean * (1 - mean) / n))
    excess = var - binomial_part
    if excess <= 0:
        return float("inf")
    return max(mean * (1 - mean) / excess - 1.0, 1e-3)


def fit_beta_prior(
    won: ArrayLike,
    deals: ArrayLike,
    *,
    min_strength: float = 2.0,
    max_strength: float = 200.0,
) -> BetaPrior:
    """Empirical-Bayes Beta prior across templates by Beta-binomial maximum likelihood.

    Optimises (logit mean, log strength) with L-BFGS-B and an analytic gradient, the strength bounded to
    ``[min_strength, max_strength]``. Degenerate inputs never raise: no deals → uniform Beta(1, 1)
    (``no_closed_deals``); all won or all lost → a weak prior at the smoothed pooled rate
    (``no_variation``); fewer than three templates → the same weak prior (``insufficient_data``).
    """
    k = np.asarray(won, dtype=float)
    n = np.asarray(deals, dtype=float)
    mask = n > 0
    k, n = k[mask], n[mask]
    if len(n) == 0:
        return BetaPrior(1.0, 1.0, "uniform", "no_closed_deals")
    total_k, total_n = float(k.sum()), float(n.sum())
    smoothed = (total_k + 0.5) / (total_n + 1.0)
    weak = (smoothed * min_strength, (1 - smoothed) * min_strength)
    if total_k in (0.0, total_n):
        return BetaPrior(*weak, "pooled", "no_variation")
    if len(n) < 3:
        return BetaPrior(*weak, "pooled", "insufficient_data")
    mean0 = total_k / total_n
    s0 = min(max(_moments_strength(k, n, mean0), min_strength), max_strength)

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        m, s = special.expit(theta[0]), np.exp(theta[1])
        a, b = m * s, (1 - m) * s
        common = special.digamma(a + b) - special.digamma(a + b + n)
        da = np.sum(special.digamma(a + k) - special.digamma(a) + common)
        db = np.sum(special.digamma(b + n - k) - special.digamma(b) + common)
        ll = np.sum(special.betaln(a + k, b + n - k)) - len(n) * special.betaln(a, b)
        grad_u = (da - db) * s * m * (1 - m)
        grad_v = da * a + db * b
        return -float(ll), -np.array([grad_u, grad_v])

    start = np.array([special.logit(mean0), np.log(s0)])
    bounds = [(-30.0, 30.0), (np.log(min_strength), np.log(max_strength))]
    result = optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 500},
    )
    m, s = float(special.expit(result.x[0])), float(np.exp(result.x[1]))
    return BetaPrior(m * s, (1 - m) * s, "mle", "ok")


def baseline_stats(exposures: pd.DataFrame) -> TemplateStats:
    """Deal-level wins and losses of every deal that received at least one template."""
    if len(exposures) == 0:
        return TemplateStats()
    per_deal = exposures.drop_duplicates("deal_id")["won"].to_numpy(dtype=bool)
    won = int(per_deal.sum())
    return TemplateStats(won, len(per_deal) - won)


def template_stats(
    exposures: pd.DataFrame,
    settings: EngineSettings,
    templates: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per-template wins, losses, raw rate, EB posterior, credible interval and P(beats baseline).

    Indexed by template_id (every template in ``exposures`` plus any listed in ``templates``; those
    without closed deals get the prior alone and ``no_closed_deals``). ``alpha``/``beta`` are the
    posterior parameters. ``frame.attrs`` carries baseline_win_rate, baseline_deals, prior_alpha,
    prior_beta, prior_method and prior_status.
    """
    counts = (
        exposures.groupby("template_id", sort=True)["won"].agg(["size", "sum"])
        if len(exposures)
        else pd.DataFrame({"size": pd.Series(dtype=np.int64), "sum": pd.Series(dtype=np.int64)})
    )
    index = counts.index.astype(object)
    if templates is not None:
        index = index.union(pd.Index(list(templates), dtype=object))
    counts = counts.reindex(index, fill_value=0)
    deals = counts["size"].to_numpy(dtype=np.int64)
    won = counts["sum"].to_numpy(dtype=np.int64)
    prior = fit_beta_prior(
        won, deals, min_strength=settings.prior_min_strength, max_strength=settings.prior_max_strength
    )
    base = baseline_stats(exposures)
    baseline = base.win_rate
    a, b = prior.alpha + won, prior.beta + (deals - won)
    tail = (1 - settings.credible_level) / 2
    status = np.where(
        deals == 0, "no_closed_deals", np.where(deals < settings.min_sample_size, "insufficient_data", "ok")
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        frame = pd.DataFrame(
            {
                "deals": deals,
                "won": won,
                "lost": deals - won,
                "win_rate": np.where(deals > 0, won / np.maximum(deals, 1), np.nan),
                "alpha": a,
                "beta": b,
                "posterior_mean": a / (a + b),
                "ci_low": beta_dist.ppf(tail, a, b),
                "ci_high": beta_dist.ppf(1 - tail, a, b),
                "p_beats_baseline": beta_dist.sf(baseline, a, b) if base.deals else np.full(len(a), np.nan),
                "data_status": status.astype(object),
            },
            index=pd.Index(index, name="template_id"),
        )
    frame.attrs.update(
        baseline_win_rate=baseline,
        baseline_deals=base.deals,
        prior_alpha=prior.alpha,
        prior_beta=prior.beta,
        prior_method=prior.method,
        prior_status=prior.status,
    )
    return frame
