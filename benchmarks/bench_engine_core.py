"""Benchmark of the engine core (exposures, attribution, stats, adjusted effects, trends).

Runs at 100k and 1M messages on a vectorised synthetic sales world (segment-mix confounding, sequences
that share templates, early stops, a few late declines) and prints wall time per stage and peak memory
(tracemalloc peak of Python allocations, plus the process's max RSS).
"""

from __future__ import annotations

import resource
import time
import tracemalloc
from collections.abc import Callable
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


def run_core(deals: pd.DataFrame, messages: pd.DataFrame, as_of: datetime) -> dict[str, tuple[float, float]]:
    """Run every core stage once; return (wall seconds, process CPU seconds) of each.

    CPU time is reported because the benchmark machine is shared: under load, wall time mostly measures
    the neighbours.
    """
    settings = EngineSettings()
    times: dict[str, tuple[float, float]] = {}
    stages: list[tuple[str, Callable[[], object]]] = []
    state: dict[str, pd.DataFrame] = {}

    def exposures() -> object:
        state["exposures"] = build_exposures(deals, messages, settings)
        return state["exposures"]

    stages = [
        ("exposures", exposures),
        ("attribution", lambda: attribute(deals, messages, settings)),
        ("stats", lambda: template_stats(state["exposures"], settings)),
        ("effects", lambda: adjusted_effects(state["exposures"], deals, settings)),
        ("trends", lambda: detect_declines(state["exposures"], deals, settings, as_of)),
    ]
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for name, stage in stages:
        wall, cpu = time.perf_counter(), time.process_time()
        stage()
        times[name] = (time.perf_counter() - wall, time.process_time() - cpu)
    times["total"] = (time.perf_counter() - wall0, time.process_time() - cpu0)
    return times


def _frames(n_messages: int, source: str) -> tuple[pd.DataFrame, pd.DataFrame, datetime]:
    if source == "world":
        from feedbackloop.sandbox.world import WorldConfig, generate_world

        world = generate_world(WorldConfig(seed=1, deals=round(n_messages / 4.1), templates=40))
        return world.deals_frame(), world.messages_frame(), world.now
    sim = simulate_sales(round(n_messages / 3.5), seed=1)
    return sim.deals, sim.messages, sim.now


def main() -> None:
    """Per size: wall time of each stage (untraced run), then the traced peak of a second run."""
    for source in ("world", "simple"):
        for n_messages in (100_000, 1_000_000):
            t = time.perf_counter()
            deals, messages, now = _frames(n_messages, source)
            generated = time.perf_counter() - t
            times = run_core(deals, messages, now)
            tracemalloc.start()
            run_core(deals, messages, now)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            stages = "  ".join(f"{k}={w:.2f}s/{c:.2f}s" for k, (w, c) in times.items())
            print(
                f"{source:6} messages={len(messages):>9,} deals={len(deals):>7,}"
                f" (generated in {generated:.1f}s)\n"
                f"       wall/cpu: {stages}\n       core tracemalloc peak={peak / 2**20:.0f} MiB, "
                f"process max RSS so far={rss:.0f} MiB",
                flush=True,
            )


if __name__ == "__main__":
    main()
