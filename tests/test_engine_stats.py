"""Template statistics against independent references: grid integration, scipy's Beta-binomial, simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, optimize
from scipy.stats import betabinom

from feedbackloop.engine.settings import EngineSettings
from feedbackloop.engine.stats import (
    TemplateStats,
    beta_binomial_loglik,
    fit_beta_prior,
    template_stats,
)


def _exposures(counts: dict[str, tuple[int, int]]) -> pd.DataFrame:
    """One exposure per deal: template → (won, lost); every deal gets exactly one template."""
    rows = []
    for template, (won, lost) in counts.items():
        rows += [(template, True)] * won + [(template, False)] * lost
    frame = pd.DataFrame(rows, columns=["template_id", "won"])
    frame["deal_id"] = [f"d{i}" for i in range(len(frame))]
    return frame


def test_template_stats_adds_across_periods() -> None:
    total = TemplateStats(3, 4) + TemplateStats(2, 1)
    assert total == TemplateStats(5, 5)
    assert total.deals == 10
    assert total.win_rate == 0.5
    assert np.isnan(TemplateStats().win_rate)


@pytest.mark.parametrize(
    ("alpha", "beta", "n_templates"),
    [(8.0, 12.0, 300), (2.0, 5.0, 300), (30.0, 30.0, 400)],
    ids=["moderate", "dispersed", "tight"],
)
def test_eb_prior_recovers_known_beta_on_simulated_beta_binomial_data(
    alpha: float, beta: float, n_templates: int
) -> None:
    rng = np.random.default_rng(7)
    p = rng.beta(alpha, beta, n_templates)
    n = rng.integers(100, 400, n_templates)
    k = rng.binomial(n, p)
    prior = fit_beta_prior(k, n, max_strength=1e5)
    assert prior.status == "ok"
    mean, strength = alpha / (alpha + beta), alpha + beta
    sd_of_mean = np.sqrt(mean * (1 - mean) / (strength + 1) / n_templates)
    assert prior.mean == pytest.approx(mean, abs=3 * sd_of_mean)
    assert prior.strength == pytest.approx(alpha + beta, rel=0.30)


def test_eb_prior_is_the_beta_binomial_mle_of_scipy() -> None:
    """Our optimum equals a direct Nelder–Mead maximisation of scipy.stats.betabinom's likelihood."""
    rng = np.random.default_rng(3)
    n = rng.integers(20, 200, 60)
    k = rng.binomial(n, rng.beta(4, 9, 60))
    prior = fit_beta_prior(k, n, max_strength=1e5)

    def negative(theta: np.ndarray) -> float:
        return -float(betabinom.logpmf(k, n, np.exp(theta[0]), np.exp(theta[1])).sum())

    ref = optimize.minimize(
        negative,
        np.log([1.0, 1.0]),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20_000},
    )
    np.testing.assert_allclose([prior.alpha, prior.beta], np.exp(ref.x), rtol=1e-4)
    constant = float(betabinom.logpmf(k, n, 1.0, 1.0).sum()) - beta_binomial_loglik(1.0, 1.0, k, n)
    assert beta_binomial_loglik(prior.alpha, prior.beta, k, n) + constant == pytest.approx(-ref.fun, rel=1e-9)


@pytest.mark.parametrize(
    ("won", "deals", "status", "method"),
    [
        ([], [], "no_closed_deals", "uniform"),
        ([0, 0], [0, 0], "no_closed_deals", "uniform"),
        ([10, 5, 7], [10, 5, 7], "no_variation", "pooled"),
        ([0, 0, 0], [10, 5, 7], "no_variation", "pooled"),
        ([3, 4], [10, 10], "insufficient_data", "pooled"),
    ],
    ids=["empty", "no-deals", "all-won", "all-lost", "two-templates"],
)
def test_eb_prior_degenerate_inputs_give_a_weak_prior_and_a_status(
    won: list[int], deals: list[int], status: str, method: str
) -> None:
    prior = fit_beta_prior(won, deals)
    assert (prior.status, prior.method) == (status, method)
    assert prior.alpha > 0
    assert prior.beta > 0
    assert prior.strength <= 2.0 + 1e-12


def test_homogeneous_templates_hit_the_strength_cap() -> None:
    """Identical true rates → overdispersion 0 → MLE strength at +∞, clamped to prior_max_strength."""
    n = np.full(40, 200)
    k = np.full(40, 60)
    prior = fit_beta_prior(k, n, max_strength=150.0)
    assert prior.strength == pytest.approx(150.0)
    assert prior.mean == pytest.approx(0.3, abs=0.005)


def _grid_posterior(won: int, lost: int, a0: float, b0: float) -> tuple[np.ndarray, np.ndarray]:
    grid = np.linspace(0, 1, 400_001)[1:-1]
    log_density = (a0 + won - 1) * np.log(grid) + (b0 + lost - 1) * np.log1p(-grid)
    density = np.exp(log_density - log_density.max())
    cdf = integrate.cumulative_trapezoid(density, grid, initial=0)
    return grid, cdf / cdf[-1]


def test_posterior_interval_and_p_beats_baseline_match_grid_integration() -> None:
    counts = {"a": (30, 70), "b": (45, 55), "c": (5, 3), "d": (120, 180), "e": (12, 40)}
    frame = template_stats(_exposures(counts), EngineSettings())
    a0, b0 = frame.attrs["prior_alpha"], frame.attrs["prior_beta"]
    baseline = frame.attrs["baseline_win_rate"]
    assert baseline == pytest.approx(
        sum(w for w, _ in counts.values()) / sum(w + lo for w, lo in counts.values())
    )
    for template, (won, lost) in counts.items():
        row = frame.loc[template]
        grid, cdf = _grid_posterior(won, lost, a0, b0)
        assert row["ci_low"] == pytest.approx(np.interp(0.025, cdf, grid), abs=2e-5)
        assert row["ci_high"] == pytest.approx(np.interp(0.975, cdf, grid), abs=2e-5)
        assert row["p_beats_baseline"] == pytest.approx(1 - np.interp(baseline, grid, cdf), abs=2e-5)
        assert row["posterior_mean"] == pytest.approx((a0 + won) / (a0 + b0 + won + lost))
        assert (row["alpha"], row["beta"]) == pytest.approx((a0 + won, b0 + lost))


def test_template_stats_shrinks_small_templates_and_lists_templates_without_deals() -> None:
    counts = {"big": (300, 700), "small": (4, 0), **{f"t{i}": (20 + i, 60 - i) for i in range(10)}}
    frame = template_stats(_exposures(counts), EngineSettings(), templates=["never_closed"])
    small, big = frame.loc["small"], frame.loc["big"]
    assert small["win_rate"] == 1.0
    assert small["posterior_mean"] < 0.7  # four straight wins do not make a 100% template
    assert small["data_status"] == "insufficient_data"
    assert big["data_status"] == "ok"
    assert abs(big["posterior_mean"] - 0.3) < 0.01
    never = frame.loc["never_closed"]
    assert never["deals"] == 0
    assert never["data_status"] == "no_closed_deals"
    assert never["posterior_mean"] == pytest.approx(
        frame.attrs["prior_alpha"] / (frame.attrs["prior_alpha"] + frame.attrs["prior_beta"])
    )
    assert np.isnan(never["win_rate"])
