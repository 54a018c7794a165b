"""Benchmark of the engine core (exposures, attribution, stats, adjusted effects, trends).

Runs at 100k and 1M messages on a vectorised synthetic sales world (segment-mix confounding, sequences
that share templates, early stops, a few late declines) and prints wall time per stage and peak memory
(tracemalloc peak of Python allocations, plus the process's max RSS).
"""

from __future__ import annotations

import resource
import time
import tracemalloc
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from feedbackloop.engine import (
    EngineSettings,
    adjusted_effects,
    attribute,
    build_exposures,
    detect_declines,
    template_stats,
)

__all__ = ["SimulatedSales", "main", "run_core", "simulate_sales"]

SEGMENTS = np.array(["smb", "mid_market", "enterprise"], dtype=object)
STEPS = 6


@dataclass(frozen=True)
class SimulatedSales:
    deals: pd.DataFrame
    messages: pd.DataFrame
    effects: dict[str, float]
    declining: dict[str, bool]
    now: datetime


def simulate_sales(
    n_deals: int, n_templates: int = 40, seed: int = 0, n_declining: int = 4
) -> SimulatedSales:
    """A quick synthetic world with known template effects (about 3.5 messages per deal)."""
    rng = np.random.default_rng(seed)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    names = np.array([f"tpl_{i:03d}" for i in range(n_templates)], dtype=object)
    effect = rng.normal(0.0, 0.4, n_templates)
    declining = np.zeros(n_templates, dtype=bool)
    declining[rng.choice(n_templates, n_declining, replace=False)] = True
    base = np.array([-1.2, -0.6, 0.2])
    segment = rng.choice(3, n_deals, p=[0.5, 0.3, 0.2])
    # Each segment prefers some sequences; each sequence draws each step from a small template pool.
    n_seq = 12
    seq_pref = rng.dirichlet(np.ones(n_seq) * 0.5, size=3)
    pools = rng.integers(0, n_templates, size=(n_seq, STEPS, 3))
    sequence = (seq_pref[segment].cumsum(1) > rng.random(n_deals)[:, None]).argmax(1)
    planned = pools[sequence[:, None], np.arange(STEPS)[None, :], rng.integers(0, 3, (n_deals, STEPS))]
    length = np.minimum(rng.geometric(0.22, n_deals), STEPS)
    created = now - timedelta(days=420) + pd.to_timedelta(rng.uniform(0, 420, n_deals), unit="D")
    closed = created + pd.to_timedelta(25 + rng.exponential(12, n_deals), unit="D")
    late = np.asarray(closed > pd.Timestamp(now - timedelta(days=20)))
    received = np.zeros((n_deals, n_templates), dtype=bool)
    rows = np.repeat(np.arange(n_deals), STEPS)
    step_ok = (np.arange(STEPS)[None, :] < length[:, None]).ravel()
    received[rows[step_ok], planned.ravel()[step_ok]] = True
    eff = received @ effect - (received[:, declining].sum(1) * 1.2) * late
    p = 1 / (1 + np.exp(-(base[segment] + eff + rng.normal(0, 0.2, n_deals))))
    won = rng.random(n_deals) < p
    is_open = np.asarray(closed > pd.Timestamp(now))
    outcome = np.where(is_open, "open", np.where(won, "won", "lost")).astype(object)
    deal_ids = np.array([f"d{i}" for i in range(n_deals)], dtype=object)
    deals = pd.DataFrame(
        {
            "deal_id": deal_ids,
            "outcome": outcome,
            "amount": np.round(rng.lognormal(9, 1, n_deals), 2),
            "currency": "USD",
            "created_at": created,
            "closed_at": pd.Series(closed).where(~is_open),
            "segment": SEGMENTS[segment],
            "sequence_id": np.char.add("seq_", sequence.astype(str)).astype(object),
        }
    )
    msg_deal = rows[step_ok]
    step = np.tile(np.arange(STEPS), n_deals)[step_ok]
    messages = pd.DataFrame(
        {
            "message_id": np.char.add("m", np.arange(len(msg_deal)).astype(str)).astype(object),
            "deal_id": deal_ids[msg_deal],
            "template_id": names[planned.ravel()[step_ok]],
            "sequence_id": deals["sequence_id"].to_numpy()[msg_deal],
            "position": step + 1,
            "channel": "email",
            "direction": "outbound",
            "sent_at": created[msg_deal] + pd.to_timedelta(step * 3, unit="D"),
        }
    )
    return SimulatedSales(
        deals=deals,
        messages=messages,
        effects=dict(zip(names, effect, strict=True)),
        declining=dict(zip(names, declining, strict=True)),
        now=now,
    )


def run_core(deals: pd.DataFrame, messages: pd.DataFrame, as_of: datetime) -> dict[str, float]:
    """Run every core stage once; return the wall seconds of each."""
    settings = EngineSettings()
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    exposures = build_exposures(deals, messages, settings)
    times["exposures"] = time.perf_counter() - t0
    t = time.perf_counter()
    attribute(deals, messages, settings)
    times["attribution"] = time.perf_counter() - t
    t = time.perf_counter()
    template_stats(exposures, settings)
    times["stats"] = time.perf_counter() - t
    t = time.perf_counter()
    adjusted_effects(exposures, deals, settings)
    times["effects"] = time.perf_counter() - t
    t = time.perf_counter()
    detect_declines(exposures, deals, settings, as_of)
    times["trends"] = time.perf_counter() - t
    times["total"] = time.perf_counter() - t0
    return times


def main() -> None:
    for n_messages in (100_000, 1_000_000):
        world = simulate_sales(int(n_messages / 3.5), seed=1)
        tracemalloc.start()
        times = run_core(world.deals, world.messages, world.now)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        stages = "  ".join(f"{k}={v:.2f}s" for k, v in times.items())
        print(
            f"messages={len(world.messages):>9,} deals={len(world.deals):>7,}  {stages}  "
            f"tracemalloc_peak={peak / 2**20:.0f}MiB  max_rss={rss:.0f}MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
