"""Simulation claims of the optimizer, re-checked in `make test` at a smaller scale than the benchmark.

The benchmark (`benchmarks/bench_optimizer.py`, 30 seeds, figures in the README) establishes the claims
with confidence intervals; these tests rerun the same simulations on six fixed seeds so that a change
that breaks them is caught. They are deterministic (seeded), not statistical gambles.
"""

from __future__ import annotations

import numpy as np
import pytest

from feedbackloop.engine.optimizer.simulation import closed_loop_run, drift_rates, regret_run

SEEDS = range(6)


def mean_regret(policy: str, drift_day: int | None) -> float:
    rates = drift_rates(drift_day=drift_day)
    return float(
        np.mean([regret_run(policy, rates, seed=s, days=200, per_day=100, delay=14).sum() for s in SEEDS])
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("drift_day", "bound"), [(None, 1.1), (100, 0.8)], ids=["fixed-rates", "best-drops-60pct-day-100"]
)
def test_regret_against_mabwiser_thompson_sampling(drift_day: int | None, bound: float) -> None:
    """Feedback 14 days late in batches of 100 a day, 10 templates at 8%-30%, 200 days, same for both."""
    ours, theirs = mean_regret("ours", drift_day), mean_regret("mabwiser", drift_day)
    assert ours <= bound * theirs, f"ours {ours:.0f} vs MABWiser {theirs:.0f}"


@pytest.mark.slow
def test_the_closed_loop_beats_a_static_bot() -> None:
    for seed in (0, 1):
        result = closed_loop_run(seed, weeks=26)
        assert result.uplift > 0.01, result
        assert result.tests_started >= 1
