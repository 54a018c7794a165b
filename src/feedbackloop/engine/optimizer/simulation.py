"""Simulations with known truth that the benchmarks report and the tests assert on.

* :func:`regret_run`: delayed, batched feedback (``per_day`` selections a day, outcomes known ``delay``
  days later) for our optimizer or MABWiser's Thompson sampling under exactly the same world and delays.
  Regret is expected regret: the best true rate that day minus the true rate of the chosen template.
* :func:`aa_false_positive_rate` / :func:`msprt_power`: many two-arm tests monitored daily, vectorised.
* :func:`closed_loop_run`: 26 weeks of outreach in segments with drift, the loop against a static bot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from feedbackloop.engine.optimizer.abtest import msprt_lambda
from feedbackloop.engine.optimizer.bandit import ContinuousOptimizer

__all__ = [
    "ClosedLoopResult",
    "aa_false_positive_rate",
    "closed_loop_run",
    "drift_rates",
    "msprt_power",
    "regret_run",
]

START = datetime(2026, 1, 5, tzinfo=UTC)
RateFn = Callable[[int], NDArray[np.float64]]


def drift_rates(
    n: int = 10, low: float = 0.08, high: float = 0.30, drift_day: int | None = None, drop: float = 0.6
) -> RateFn:
    """Win rates evenly spread over [low, high]; the best drops by ``drop`` (relative) from ``drift_day``."""
    base = np.linspace(low, high, n)
    after = base.copy()
    after[-1] *= 1.0 - drop

    def rates(day: int) -> NDArray[np.float64]:
        return after if drift_day is not None and day >= drift_day else base

    return rates


class _Mabwiser:
    """MABWiser's Thompson sampling behind the same select-a-batch / learn-a-batch calls."""

    def __init__(self, n: int, seed: int) -> None:
        from mabwiser.mab import MAB, LearningPolicy

        self.mab = MAB(arms=list(range(n)), learning_policy=LearningPolicy.ThompsonSampling(), seed=seed)
        self.mab.fit(decisions=np.array([], dtype=int), rewards=np.array([]))

    def select(self, k: int, day: int) -> list[int]:  # noqa: ARG002
        out = self.mab.predict(contexts=np.zeros((k, 1)))
        return [int(x) for x in (out if isinstance(out, list) else [out])]

    def learn(self, arms: list[int], wins: list[bool], day: int) -> None:  # noqa: ARG002
        if arms:
            self.mab.partial_fit(decisions=np.asarray(arms), rewards=np.asarray(wins, dtype=float))


class _Ours:
    def __init__(self, n: int, seed: int, options: dict[str, Any]) -> None:
        self.ids = [f"t{i}" for i in range(n)]
        self.opt = ContinuousOptimizer(self.ids, seed=seed, **options)

    def select(self, k: int, day: int) -> list[int]:
        at = START + timedelta(days=day)
        return [int(self.opt.select_template(None, at=at)[1:]) for _ in range(k)]

    def learn(self, arms: list[int], wins: list[bool], day: int) -> None:
        at = START + timedelta(days=day)
        for a, w in zip(arms, wins, strict=True):
            self.opt.update_on_outcome(self.ids[a], w, None, at=at)


def regret_run(
    policy: str,
    rates: RateFn,
    *,
    seed: int,
    days: int = 200,
    per_day: int = 100,
    delay: int = 14,
    n: int = 10,
    options: dict[str, Any] | None = None,
) -> NDArray[np.float64]:
    """Daily expected regret of ``policy`` ("ours" or "mabwiser") under delayed, batched feedback."""
    agent: _Ours | _Mabwiser = _Ours(n, seed, options or {}) if policy == "ours" else _Mabwiser(n, seed)
    world = np.random.default_rng(10_000 + seed)  # the same outcome stream for every policy
    pending: dict[int, tuple[list[int], list[bool]]] = {}
    regret = np.zeros(days)
    for day in range(days):
        arms, wins = pending.pop(day, ([], []))
        agent.learn(arms, wins, day)
        p = rates(day)
        chosen = agent.select(per_day, day)
        regret[day] = float(np.sum(p.max() - p[chosen]))
        won = world.random(per_day) < p[chosen]
        pending[day + delay] = (chosen, [bool(x) for x in won])
    return regret


def _daily_counts(
    rng: np.random.Generator, tests: int, days: int, per_day: int, p: float
) -> NDArray[np.int64]:
    return np.cumsum(rng.binomial(per_day, p, size=(tests, days)), axis=1)


def aa_false_positive_rate(
    rng: np.random.Generator,
    *,
    tests: int = 1000,
    days: int = 60,
    per_day: int = 50,
    rate: float = 0.2,
    tau: float = 0.1,
    alpha: float = 0.05,
    min_sample: int = 100,
) -> float:
    """Share of A/A tests that the mSPRT ever calls significant when looked at every day."""
    n = per_day * np.arange(1, days + 1)
    wa, wb = (_daily_counts(rng, tests, days, per_day, rate) for _ in range(2))
    lam = msprt_lambda(wa, n, wb, n, tau)
    looked = n >= min_sample
    return float(np.mean(np.any((lam >= 1 / alpha) & looked, axis=1)))


def msprt_power(
    rng: np.random.Generator,
    *,
    tests: int = 1000,
    days: int = 28,
    per_day: int = 50,
    control: float = 0.2,
    variant: float = 0.3,
    tau: float = 0.1,
    alpha: float = 0.05,
    min_sample: int = 100,
) -> dict[str, float]:
    """Share of tests that detect ``variant > control`` by each horizon, and the median days to decide."""
    n = per_day * np.arange(1, days + 1)
    wa = _daily_counts(rng, tests, days, per_day, control)
    wb = _daily_counts(rng, tests, days, per_day, variant)
    hit = (msprt_lambda(wa, n, wb, n, tau) >= 1 / alpha) & (wb > wa) & (n >= min_sample)
    first = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, days + 1)
    out = {f"power_day_{d}": float(np.mean(first <= d)) for d in (7, 14, 21, 28) if d <= days}
    out["median_days_to_decision"] = float(np.median(first))
    return out


@dataclass(frozen=True)
class ClosedLoopResult:
    loop_win_rate: float
    static_win_rate: float
    tests_started: int
    promoted: int
    deprecated: int

    @property
    def uplift(self) -> float:
        return self.loop_win_rate - self.static_win_rate


def closed_loop_run(
    seed: int, *, weeks: int = 26, per_day: int = 60, delay: int = 21, options: dict[str, Any] | None = None
) -> ClosedLoopResult:
    """The whole loop over ``weeks`` against a static bot that keeps its four initial templates.

    World: three segments; 12 templates with segment-specific win rates drawn from U(8%, 28%); the four
    initial templates are all either bot starts with; the other eight only exist once the loop's variant
    hook "writes" them (one per weekly optimization cycle, tested against the top performer on half of the
    traffic). Initial template 0 loses half its win rate over the period (drift). Outcomes are known
    ``delay`` days after the email. Both bots meet identical prospects: same segments, same uniform draw
    deciding each outcome (common random numbers), so the difference is the templates chosen.
    The loop: the optimizer selects, outcomes update it, tests are concluded as outcomes arrive, and the
    weekly cycle promotes, deprecates (with :func:`default_decide`) and starts a variant test.
    """
    from feedbackloop.engine.optimizer.cycle import conclude_tests, run_optimization_cycle

    rng = np.random.default_rng(seed)
    segments = ["smb", "mid_market", "enterprise"]
    base = rng.uniform(0.08, 0.28, size=(12, 3))  # template × segment
    initial, reserve = [0, 1, 2, 3], [f"t{i}" for i in range(4, 12)]
    opt = ContinuousOptimizer([f"t{i}" for i in initial], seed=seed, **(options or {}))

    def hook(template_id: str, at: datetime) -> str | None:  # noqa: ARG001
        return reserve.pop(0) if reserve and not opt.running_tests() else None

    pending: dict[int, list[tuple[str, bool, dict[str, Any]]]] = {}
    won = {"loop": 0, "static": 0}
    started = 0
    days = weeks * 7
    for day in range(days):
        at = START + timedelta(days=day)
        for tid, w, ctx in pending.pop(day, []):
            opt.update_on_outcome(tid, w, ctx, at=at)
        conclude_tests(opt, at)
        if day % 7 == 6:
            report = run_optimization_cycle(opt, at, variant_hook=hook, test_options={"traffic": 0.5})
            started += len(report.tests_started)
        rates = base.copy()
        rates[0] *= 1.0 - 0.5 * day / days
        seg = rng.integers(0, 3, size=per_day)
        u = rng.random(per_day)
        static_pick = rng.choice(initial, size=per_day)
        for k in range(per_day):
            ctx = {"segment": segments[seg[k]], "deal_id": f"d{day}-{k}"}
            tid = opt.select_template(ctx, at=at)
            loop_win = bool(u[k] < rates[int(tid[1:]), seg[k]])
            won["loop"] += loop_win
            won["static"] += bool(u[k] < rates[static_pick[k], seg[k]])
            pending.setdefault(day + delay, []).append((tid, loop_win, ctx))
    total = days * per_day
    statuses = [s.value for s in opt.status.values()]
    return ClosedLoopResult(
        won["loop"] / total,
        won["static"] / total,
        started,
        statuses.count("promoted"),
        statuses.count("deprecated"),
    )
