"""Adjusted effects: the ridge logit against statsmodels and scipy, and confounding removed on toy worlds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import statsmodels.api as sm
from scipy import optimize, special

from feedbackloop.engine.effects import adjusted_effects, deal_design, fit_ridge_logit
from feedbackloop.engine.logit import collapse_rows
from feedbackloop.engine.settings import EngineSettings

SEGMENT_BASE = {"smb": -1.0, "mid_market": -0.4, "enterprise": 0.3}


def _random_exposures(n_deals: int, effects: dict[str, float], seed: int) -> pd.DataFrame:
    """Each deal gets a segment and 1–4 distinct random templates; outcome from the true logit model."""
    rng = np.random.default_rng(seed)
    names = np.array(list(effects))
    segments = rng.choice(list(SEGMENT_BASE), n_deals, p=[0.5, 0.3, 0.2])
    rows = []
    for i in range(n_deals):
        received = rng.choice(names, rng.integers(1, 5), replace=False)
        logit = SEGMENT_BASE[segments[i]] + sum(effects[t] for t in received)
        won = bool(rng.random() < special.expit(logit))
        rows += [(f"d{i}", t, won, segments[i]) for t in received]
    return pd.DataFrame(rows, columns=["deal_id", "template_id", "won", "segment"])


def _dense_reference_design(exposures: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The same model built independently with pandas: intercept, segment dummies, template indicators."""
    indicators = pd.crosstab(exposures["deal_id"], exposures["template_id"]).clip(upper=1)
    per_deal = exposures.drop_duplicates("deal_id").set_index("deal_id").loc[indicators.index]
    reference = per_deal["segment"].value_counts().index[0]
    dummies = pd.get_dummies(per_deal["segment"], prefix="segment", prefix_sep="=", dtype=float)
    dummies = dummies.drop(columns=f"segment={reference}")
    design = pd.concat(
        [
            pd.Series(1.0, index=indicators.index, name="intercept"),
            dummies,
            indicators.add_prefix("template=").astype(float),
        ],
        axis=1,
    )
    return design, per_deal["won"].to_numpy(dtype=float)


EFFECTS = {"a": 0.8, "b": 0.3, "c": 0.0, "d": -0.4, "e": -0.9, "f": 0.5}


def test_unpenalised_fit_matches_statsmodels_logit_coefficients_and_standard_errors() -> None:
    exposures = _random_exposures(4000, EFFECTS, seed=11)
    out = adjusted_effects(exposures, None, EngineSettings(l2_penalty=0.0))
    design, y = _dense_reference_design(exposures)
    ref = sm.Logit(y, design).fit(disp=0, method="newton", tol=1e-12, maxiter=100)
    assert ref.mle_retvals["converged"]
    names = [f"template={t}" for t in out.index]
    # covariates keep a token 1e-4 penalty; against ~4000 deals of information that is < 1e-6 relative.
    np.testing.assert_allclose(out["coef"], ref.params[names], rtol=1e-4)
    np.testing.assert_allclose(out["coef_se"], ref.bse[names], rtol=1e-4)
    assert out.attrs["converged"]
    # score = coefficient minus the mean coefficient of its slot (one slot here: no positions known);
    # its SE and p-value are statsmodels' Wald test of that contrast.
    k = len(names)
    contrast = np.zeros((k, len(design.columns)))
    contrast[:, design.columns.get_indexer(pd.Index(names))] = np.eye(k) - 1.0 / k
    wald = ref.t_test(contrast)
    np.testing.assert_allclose(out["score"], np.ravel(wald.effect), rtol=1e-4)
    np.testing.assert_allclose(out["score_se"], np.ravel(wald.sd), rtol=1e-4)
    np.testing.assert_allclose(out["p_value"], np.ravel(wald.pvalue), rtol=1e-3, atol=1e-12)


def _penalised_objective(x: np.ndarray, y: np.ndarray, pen: np.ndarray):
    def f(b: np.ndarray) -> tuple[float, np.ndarray]:
        eta = x @ b
        value = -np.sum(y * eta - np.logaddexp(0, eta)) + 0.5 * np.sum(pen * b * b)
        return value, -(x.T @ (y - special.expit(eta))) + pen * b

    return f


@pytest.mark.parametrize("penalty", [0.5, 5.0, 50.0], ids=["light", "medium", "heavy"])
def test_penalised_fit_matches_direct_minimisation_and_statsmodels_ridge(penalty: float) -> None:
    exposures = _random_exposures(3000, EFFECTS, seed=5)
    settings = EngineSettings(l2_penalty=penalty)
    design = deal_design(exposures, None, settings)
    x, y, pen = design.matrix.toarray(), design.outcome, design.penalty
    fit = fit_ridge_logit(design.matrix, y, pen)
    objective = _penalised_objective(x, y, pen)
    direct = optimize.minimize(
        objective,
        np.zeros(x.shape[1]),
        jac=True,
        method="L-BFGS-B",
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 10_000},
    )
    np.testing.assert_allclose(fit.coef, direct.x, atol=1e-5)
    glm = sm.GLM(y, x, family=sm.families.Binomial()).fit_regularized(alpha=pen / len(y), L1_wt=0.0)
    np.testing.assert_allclose(fit.coef, glm.params, atol=5e-4)  # loose: statsmodels stops early
    # SEs are sqrt(diag(H⁻¹)) of the penalised objective; check H by differencing its gradient.
    hessian = optimize.approx_fprime(fit.coef, lambda b: objective(b)[1], 1e-6)
    np.testing.assert_allclose(fit.se, np.sqrt(np.diag(np.linalg.inv(hessian))), rtol=1e-4)


def test_segment_mix_confounding_is_removed() -> None:
    """'ent' is only sent to enterprise deals, 'smb' only to smb deals; both have zero true effect."""
    rng = np.random.default_rng(2)
    rows = []
    for i in range(6000):
        segment = "enterprise" if i % 2 else "smb"
        templates = ["ent" if segment == "enterprise" else "smb_t", str(rng.choice(["x", "y"]))]
        won = bool(rng.random() < special.expit(SEGMENT_BASE[segment] + (0.6 if "x" in templates else 0.0)))
        rows += [(f"d{i}", t, won, segment) for t in templates]
    exposures = pd.DataFrame(rows, columns=["deal_id", "template_id", "won", "segment"])
    raw = exposures.groupby("template_id")["won"].mean()
    assert raw["ent"] - raw["smb_t"] > 0.2  # the raw rates are badly confounded
    out = adjusted_effects(exposures, None, EngineSettings())
    # ent and smb_t are perfectly collinear with the segment dummy: the ridge splits it evenly, so their
    # scores are equal; x beats y by the true 0.6.
    score = out["score"]
    assert score["ent"] == pytest.approx(score["smb_t"], abs=0.05)
    assert score["x"] - score["y"] == pytest.approx(0.6, abs=0.15)


def test_templates_sharing_sequences_are_separated() -> None:
    """'rider' (true effect 0) travels with 'star' (+1.2) in 80% of its deals; raw, it looks great."""
    rng = np.random.default_rng(4)
    rows = []
    for i in range(8000):
        roll = rng.random()
        templates = (
            ["star", "rider"]
            if roll < 0.4
            else ["rider"]
            if roll < 0.5
            else ["star"]
            if roll < 0.6
            else ["plain"]
        )
        logit = -0.8 + (1.2 if "star" in templates else 0.0)
        won = bool(rng.random() < special.expit(logit))
        rows += [(f"d{i}", t, won, "smb") for t in templates]
    exposures = pd.DataFrame(rows, columns=["deal_id", "template_id", "won", "segment"])
    raw = exposures.groupby("template_id")["won"].mean()
    assert raw["rider"] > raw["plain"] + 0.15
    out = adjusted_effects(exposures, None, EngineSettings())
    score = out["score"]
    assert score["rider"] - score["plain"] == pytest.approx(0.0, abs=0.2)
    assert score["star"] - score["plain"] == pytest.approx(1.2, abs=0.2)


def test_score_covariance_is_reported_and_matches_the_standard_errors() -> None:
    out = adjusted_effects(_random_exposures(1500, EFFECTS, seed=8), None, EngineSettings())
    cov = out.attrs["score_covariance"]
    assert list(cov.index) == list(out.index)
    np.testing.assert_allclose(np.sqrt(np.diag(cov.to_numpy())), out["score_se"], rtol=1e-12)
    assert np.allclose(cov.to_numpy(), cov.to_numpy().T)


def test_collapse_rows_merges_identical_rows_exactly() -> None:
    x = sp.csr_matrix(np.array([[1, 0, 2.5], [1, 0, 2.5], [0, 1, 0], [1, 0, 2.5], [0, 1, 0], [0, 0, 0]]))
    y = np.array([1, 0, 1, 1, 0, 1])
    unique, successes, trials = collapse_rows(x, y)
    rows = {tuple(r): (s, t) for r, s, t in zip(unique.toarray().tolist(), successes, trials, strict=True)}
    assert rows == {(1, 0, 2.5): (2, 3), (0, 1, 0): (1, 2), (0, 0, 0): (1, 1)}
