"""run_analysis end to end on the simulated world: time, process peak RSS, decision accuracy vs truth.

Accuracy: over seeds, how many templates are deprecated / promoted, how many of those contradict the
truth (deprecated with an above-average true effect, promoted with a below-average one), and the share
of clearly bad templates (≥ 0.5 log-odds below average, ≥ 200 deals) that are deprecated.
"""

from __future__ import annotations

import resource
import time

import numpy as np

from feedbackloop.engine.pipeline import run_analysis
from feedbackloop.engine.settings import EngineSettings
from feedbackloop.sandbox.world import WorldConfig, generate_world

SEEDS = (1, 2, 3, 4, 5)


def main() -> None:
    settings = EngineSettings()
    totals = {"deprecated": 0, "wrong_deprecated": 0, "promoted": 0, "wrong_promoted": 0}
    bad_found = bad_total = 0
    for seed in SEEDS:
        w = generate_world(WorldConfig(seed=seed, deals=20_000, templates=40))
        frames = (w.deals_frame(), w.messages_frame(), w.templates_frame())
        start, cpu_start = time.perf_counter(), time.process_time()
        result = run_analysis(*frames, settings, w.now, np.random.default_rng(0))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        truth = w.truth.effects
        mean = float(np.mean(list(truth.values())))
        rows = result.to_dict()["templates"]
        dep = [t["template_id"] for t in rows if t["action"] == "deprecate"]
        pro = [t["template_id"] for t in rows if t["action"] == "promote"]
        bad = [t["template_id"] for t in rows if truth[t["template_id"]] < mean - 0.5 and t["deals"] >= 200]
        totals["deprecated"] += len(dep)
        totals["wrong_deprecated"] += sum(truth[t] > mean for t in dep)
        totals["promoted"] += len(pro)
        totals["wrong_promoted"] += sum(truth[t] < mean for t in pro)
        bad_found += len(set(bad) & set(dep))
        bad_total += len(bad)
        print(f"seed {seed}: run_analysis {seconds:.2f} s wall, {cpu:.2f} s CPU, "
              f"process peak RSS {peak:.0f} MiB, "
              f"{len(dep)} deprecated, {len(pro)} promoted, {len(result.alerts)} alerts")  # fmt: skip
    print(f"20k deals × 40 templates, seeds {SEEDS}: {totals}")
    print(f"clearly bad templates deprecated: {bad_found}/{bad_total}")
