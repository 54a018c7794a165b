"""A/B tests: the mSPRT against an independent reference, error rates under daily peeking, SRM, lifecycle."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import integrate, stats

from feedbackloop.engine.optimizer import ABTest, msprt_lambda
from feedbackloop.engine.optimizer.simulation import aa_false_positive_rate, msprt_power
from feedbackloop.errors import EngineError

T0 = datetime(2026, 3, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("wa", "na", "wb", "nb", "tau"),
    [(20, 100, 30, 100, 0.1), (200, 1000, 260, 1000, 0.1), (50, 300, 40, 200, 0.05), (5, 40, 9, 41, 0.2)],
    ids=["small", "large", "unequal", "tiny"],
)
def test_msprt_matches_numerical_mixture(wa: int, na: int, wb: int, nb: int, tau: float) -> None:
    """Λ = ∫ N(θ̂; θ, v) N(θ; 0, τ²) dθ / N(θ̂; 0, v), integrated numerically."""
    pa, pb = wa / na, wb / nb
    v = pa * (1 - pa) / na + pb * (1 - pb) / nb
    diff = pb - pa
    sd = math.sqrt(v)
    num, _ = integrate.quad(
        lambda th: stats.norm.pdf(diff, th, sd) * stats.norm.pdf(th, 0, tau),
        -1,
        1,
        points=[0, diff],
        limit=200,
    )
    reference = num / stats.norm.pdf(diff, 0, sd)
    assert float(msprt_lambda(wa, na, wb, nb, tau)) == pytest.approx(reference, rel=1e-6)


def test_aa_false_positive_rate_under_daily_peeking_is_at_most_5_percent() -> None:
    rng = np.random.default_rng(2026)
    fpr = aa_false_positive_rate(rng, tests=1000, days=60, per_day=50, rate=0.2)
    assert fpr <= 0.05
    # The same data read with a fixed-horizon z-test every day would be badly wrong: the problem is real.
    rng = np.random.default_rng(2026)
    n = 50 * np.arange(1, 61)
    wa, wb = (np.cumsum(rng.binomial(50, 0.2, size=(1000, 60)), axis=1) for _ in range(2))
    pooled = (wa + wb) / (2 * n)
    z = (wb - wa) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    naive = float(np.mean(np.any(np.abs(z) > 1.96, axis=1)))
    assert naive > 0.15


@pytest.mark.parametrize("rate", [0.05, 0.2, 0.5], ids=["5%", "20%", "50%"])
def test_aa_false_positive_rate_holds_across_base_rates(rate: float) -> None:
    assert (
        aa_false_positive_rate(np.random.default_rng(7), tests=1000, days=60, per_day=50, rate=rate) <= 0.05
    )


def test_power_for_20_to_30_percent_at_50_deals_a_day() -> None:
    power = msprt_power(np.random.default_rng(11), tests=1000, days=28, per_day=50, control=0.2, variant=0.3)
    assert power["power_day_14"] >= 0.85
    assert power["power_day_28"] >= 0.99


def _filled(wins: list[int], n: list[int], **kw: object) -> ABTest:
    test = ABTest("exp", ["a", "b"], [1, 1], started_at=T0, **kw)  # type: ignore[arg-type]
    test.wins = list(wins)
    test.losses = [k - w for k, w in zip(n, wins, strict=True)]
    test.assignments = list(n)
    return test


def test_a_clear_winner_concludes_the_test() -> None:
    test = _filled([200, 300], [1000, 1000])
    assert test.evaluate(T0 + timedelta(days=10)) == "concluded"
    assert test.winner == "b"
    (row,) = test.comparisons()
    assert row["interval"][0] > 0  # the always-valid interval excludes no difference


def test_control_wins_when_every_challenger_is_worse() -> None:
    test = _filled([300, 200], [1000, 1000])
    assert test.evaluate(T0 + timedelta(days=10)) == "concluded"
    assert test.winner == "a"


def test_no_decision_before_the_minimum_sample() -> None:
    test = _filled([10, 40], [60, 60], min_sample=100)
    assert float(msprt_lambda(10, 60, 40, 60, 0.1)) > 20  # significant already, but too few deals
    assert test.evaluate(T0 + timedelta(days=3)) == "running"


def test_out_of_time_is_inconclusive_and_promotes_nothing() -> None:
    test = _filled([200, 205], [1000, 1000], max_days=30)
    assert test.evaluate(T0 + timedelta(days=29)) == "running"
    assert test.evaluate(T0 + timedelta(days=30)) == "inconclusive"
    assert test.winner is None


def test_sample_ratio_mismatch_halts_the_test() -> None:
    test = _filled([100, 300], [1000, 1000])
    test.assignments = [1000, 1200]  # 50/50 intended; chi-square p ≈ 2e-5
    assert test.srm_pvalue() == pytest.approx(stats.chisquare([1000, 1200]).pvalue)
    assert test.evaluate(T0 + timedelta(days=5)) == "srm"
    assert test.winner is None


def test_multi_variant_tests_split_the_level() -> None:
    test = ABTest("m", ["a", "b", "c"], [1, 1, 1], started_at=T0)
    assert all(not c["significant"] for c in test.comparisons())
    test.wins, test.losses = [200, 226, 200], [800, 774, 800]
    lam = float(msprt_lambda(200, 1000, 226, 1000, 0.1))
    assert test.comparisons()[0]["significant"] is (lam >= 2 / 0.05)


def test_state_round_trip_and_validation() -> None:
    test = _filled([20, 30], [100, 100])
    test.evaluate(T0 + timedelta(days=1))
    assert ABTest.from_state(test.to_state()) == test
    with pytest.raises(EngineError):
        ABTest("x", ["a"], [1.0], started_at=T0)
    with pytest.raises(EngineError):
        ABTest("x", ["a", "b"], [1.0, 0.0], started_at=T0)


def test_only_outcomes_of_units_the_test_assigned_are_counted() -> None:
    test = ABTest("exp", ["a", "b"], [1, 1], started_at=T0, traffic=0.5)
    units = [f"p{i}" for i in range(400)]
    inside = [u for u in units if test.variant_for(u) is not None]
    assert 150 < len(inside) < 250  # about half the prospects enter the test
    outside = next(u for u in units if test.variant_for(u) is None)
    assert not test.record("a", True, outside)  # served by the bandit, not by the test
    assert not test.record("a", True, None)  # no unit: cannot be attributed to an arm
    unit = inside[0]
    mine = test.variant_for(unit)
    assert mine is not None
    other = "b" if mine == "a" else "a"
    assert not test.record(other, True, unit)
    assert test.record(mine, True, unit)
    assert sum(test.wins) == 1
    with pytest.raises(EngineError):
        ABTest("x", ["a", "b"], [1, 1], started_at=T0, traffic=0.0)
