"""Optimizer figures for the README: regret against MABWiser, A/B error rates, latency, the closed loop.

Run: ``.venv/bin/python -m benchmarks bench_optimizer`` (about 3-5 minutes on one core). Set
``BENCH_SEEDS`` to change the number of seeds of the regret comparison (default 30).
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from scipy import stats

from feedbackloop.engine.optimizer import ABTest, ContinuousOptimizer
from feedbackloop.engine.optimizer.simulation import (
    aa_false_positive_rate,
    closed_loop_run,
    drift_rates,
    msprt_power,
    regret_run,
)

__all__ = ["main"]

DAYS, PER_DAY, DELAY = 200, 100, 14


def _ratio_ci(ours: np.ndarray, theirs: np.ndarray, rng: np.random.Generator) -> tuple[float, float, float]:
    """Ratio of mean regrets with a paired bootstrap 95% interval over seeds."""
    idx = rng.integers(0, len(ours), size=(4000, len(ours)))
    boot = ours[idx].mean(axis=1) / theirs[idx].mean(axis=1)
    return (
        float(ours.mean() / theirs.mean()),
        float(np.quantile(boot, 0.025)),
        float(np.quantile(boot, 0.975)),
    )


def _gradual(day: int) -> np.ndarray:
    """The best template loses 60% of its win rate linearly between day 60 and day 140."""
    rates = np.linspace(0.08, 0.30, 10)
    rates[-1] *= 1.0 - 0.6 * min(max((day - 60) / 80, 0.0), 1.0)
    return rates


def _rising(day: int) -> np.ndarray:
    """The worst template (8%) becomes the best (40%) on day 100, while it is hardly ever played."""
    rates = np.linspace(0.08, 0.30, 10)
    if day >= 100:
        rates[0] = 0.40
    return rates


def regret(seeds: int) -> None:
    print(
        f"\n### Regret: {DAYS} days x {PER_DAY} selections/day, outcomes {DELAY} days late, "
        "10 templates at 8%-30%"
    )
    rng = np.random.default_rng(0)
    scenarios = {
        "fixed rates": drift_rates(),
        "best drops 60% on day 100": drift_rates(drift_day=100),
        "best declines 60% over days 60-140": _gradual,
        "worst rises to 40% on day 100": _rising,
    }
    print("| scenario | MABWiser TS regret | ours regret | ratio (95% CI) |")
    print("|---|---|---|---|")
    for name, rates in scenarios.items():
        ours = np.array([regret_run("ours", rates, seed=s).sum() for s in range(seeds)])
        theirs = np.array([regret_run("mabwiser", rates, seed=s).sum() for s in range(seeds)])
        r, lo, hi = _ratio_ci(ours, theirs, rng)
        print(
            f"| {name} | {theirs.mean():.0f} ± {theirs.std(ddof=1):.0f} "
            f"| {ours.mean():.0f} ± {ours.std(ddof=1):.0f}"
            f" | {r:.2f} ({lo:.2f}-{hi:.2f}) |",
            flush=True,
        )
    print(
        f"(mean ± sd of cumulative expected regret over {seeds} seeds; regret = best true rate - chosen rate)"
    )


def defaults(seeds: int) -> None:
    """How the drift defaults were chosen: discounting and change detection alone and together."""
    print(f"\n### Choosing the drift defaults ({seeds} seeds; mean cumulative regret)")
    variants: dict[str, dict[str, Any]] = {
        "plain (no discounting, no change detection)": {"half_life_days": None, "change_threshold": None},
        "discounting only, half-life 30 days": {"half_life_days": 30, "change_threshold": None},
        "discounting only, half-life 90 days": {"half_life_days": 90, "change_threshold": None},
        "change detection + half-life 365 days": {"half_life_days": 365},
        "default: change detection only": {},
    }
    scenarios = {
        "fixed": drift_rates(),
        "drop day 100": drift_rates(drift_day=100),
        "gradual": _gradual,
        "rising": _rising,
    }
    print("| optimizer | " + " | ".join(scenarios) + " |")
    print("|---|" + "---|" * len(scenarios))
    for name, options in variants.items():
        cells = [
            np.mean([regret_run("ours", rates, seed=s, options=options).sum() for s in range(seeds)])
            for rates in scenarios.values()
        ]
        print(f"| {name} | " + " | ".join(f"{c:.0f}" for c in cells) + " |", flush=True)


def abtests() -> None:
    print("\n### A/B tests (mSPRT, tau = 0.1, alpha = 5%, looked at daily)")
    t = time.perf_counter()
    fpr = aa_false_positive_rate(np.random.default_rng(1), tests=1000, days=60, per_day=50, rate=0.2)
    print(f"A/A, 1,000 tests x 60 daily looks, 50 closed deals/day/arm at 20%: false-positive rate {fpr:.1%}")
    for per_day in (50, 20):
        power = msprt_power(np.random.default_rng(2), tests=1000, days=28, per_day=per_day)
        shown = ", ".join(
            f"day {k.split('_')[-1]}: {v:.0%}" for k, v in power.items() if k.startswith("power")
        )
        print(
            f"Power 20% -> 30% at {per_day} closed deals/day/arm: {shown}; "
            f"median {power['median_days_to_decision']:.0f} days to a decision"
        )
    print(f"({time.perf_counter() - t:.2f} s for all of the above)")


def latency() -> None:
    load = os.getloadavg()[0]
    print(
        f"\n### select_template latency (100 templates x 3 segments x 5 positions; load average {load:.1f})"
    )
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    ids = [f"t{i:03d}" for i in range(100)]
    opt = ContinuousOptimizer(ids, seed=0)
    rng = np.random.default_rng(0)
    segments = ["smb", "mid_market", "enterprise"]
    for k in range(30_000):
        ctx = {"segment": segments[k % 3], "position": 1 + k % 5}
        opt.update_on_outcome(ids[k % 100], bool(rng.random() < 0.2), ctx, at=t0 + timedelta(minutes=k))
    at = t0 + timedelta(days=30)
    for label, with_test in (("bandit", False), ("with an A/B test in another segment", True)):
        if with_test:
            opt.add_test(ABTest("exp", ["t000", "t001"], [1, 1], started_at=at, segment="other"))
        times = []
        for k in range(20_000):
            ctx = {"segment": segments[k % 3], "position": 1 + k % 5, "prospect_id": f"p{k}"}
            start = time.perf_counter_ns()
            opt.select_template(ctx, at=at)
            times.append(time.perf_counter_ns() - start)
        us = np.array(times) / 1000
        print(
            f"{label}: p50 {np.percentile(us, 50):.0f} µs, p99 {np.percentile(us, 99):.0f} µs, "
            f"max {us.max():.0f} µs over {len(us):,} calls"
        )
    size = len(json.dumps(opt.to_state()))
    t = time.perf_counter()
    ContinuousOptimizer.from_state(json.loads(json.dumps(opt.to_state())))
    print(f"state: {size / 1024:.0f} KiB of JSON, save+load {1000 * (time.perf_counter() - t):.0f} ms")


def closed_loop(seeds: int = 10) -> None:
    print(f"\n### Closed loop, 26 weeks, 60 prospects/day, outcomes 21 days late ({seeds} seeds)")
    results = [closed_loop_run(s) for s in range(seeds)]
    uplift = np.array([r.uplift for r in results])
    half = stats.t.ppf(0.975, seeds - 1) * uplift.std(ddof=1) / np.sqrt(seeds)
    loop = np.mean([r.loop_win_rate for r in results])
    static = np.mean([r.static_win_rate for r in results])
    print(f"win rate: loop {loop:.1%}, static bot {static:.1%}")
    print(
        f"uplift: {100 * uplift.mean():+.1f} points (95% t-interval {100 * (uplift.mean() - half):+.1f} to "
        f"{100 * (uplift.mean() + half):+.1f}); relative {uplift.mean() / static:+.0%}"
    )
    print(
        f"per run: {np.mean([r.tests_started for r in results]):.1f} variant tests started, "
        f"{np.mean([r.promoted for r in results]):.1f} promoted, "
        f"{np.mean([r.deprecated for r in results]):.1f} deprecated"
    )


def main() -> None:
    seeds = int(os.environ.get("BENCH_SEEDS", "30"))
    start = time.perf_counter()
    latency()
    abtests()
    regret(seeds)
    defaults(max(5, seeds // 3))
    closed_loop()
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
