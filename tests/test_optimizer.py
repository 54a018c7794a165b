"""ContinuousOptimizer: eligibility, shrinkage, discounting, change detection, boosts and restart safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import stats

from feedbackloop.domain import TemplateStatus
from feedbackloop.engine.optimizer import ABTest, ContinuousOptimizer, sticky_fraction
from feedbackloop.errors import EngineError

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def feed(
    opt: ContinuousOptimizer,
    template: str,
    wins: int,
    losses: int,
    ctx: dict[str, Any] | None = None,
    at: datetime = T0,
) -> None:
    """Outcomes spread evenly (wins first would look like a change to the change detector)."""
    n = wins + losses
    for k in range(n):
        opt.update_on_outcome(template, (k + 1) * wins // n > k * wins // n, ctx, at=at)


def mean_of(opt: ContinuousOptimizer, template: str, ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    return next(r for r in opt.summary(ctx, at=T0) if r["template_id"] == template)


@pytest.mark.parametrize(
    "context",
    [{}, {"segment": "smb"}, {"segment": "enterprise", "position": 3}, {"prospect_id": "p-1"}],
    ids=["no-context", "segment", "segment-position", "prospect"],
)
def test_deprecated_templates_are_never_selected(context: dict[str, Any]) -> None:
    opt = ContinuousOptimizer(["a", "b", "c"], seed=1)
    feed(opt, "a", 80, 20)  # by far the best, then deprecated
    opt.deprecate("a")
    picks = {opt.select_template(context, at=T0) for _ in range(500)}
    assert picks <= {"b", "c"}
    opt.set_status("b", "deprecated")
    assert {opt.select_template(context, at=T0) for _ in range(100)} == {"c"}
    opt.set_status("c", TemplateStatus.DEPRECATED)
    with pytest.raises(EngineError):
        opt.select_template(context, at=T0)


def test_the_best_template_wins_most_selections_once_learned() -> None:
    opt = ContinuousOptimizer(["a", "b", "c"], seed=2)
    feed(opt, "a", 30, 70)
    feed(opt, "b", 10, 90)
    feed(opt, "c", 12, 88)
    picks = [opt.select_template(None, at=T0) for _ in range(1000)]
    assert picks.count("a") > 950


def test_candidates_restrict_the_choice() -> None:
    opt = ContinuousOptimizer(["a", "b", "c"], seed=3)
    feed(opt, "a", 50, 50)
    assert {opt.select_template({"candidates": ["b", "c"]}, at=T0) for _ in range(200)} == {"b", "c"}


def test_segment_posterior_shrinks_toward_the_templates_global_rate() -> None:
    opt = ContinuousOptimizer(["a", "b"], seed=0, half_life_days=None, change_threshold=None)
    feed(opt, "a", 60, 140, {"segment": "smb"})  # 30% in smb
    feed(opt, "a", 2, 0, {"segment": "enterprise"})  # 2/2 in enterprise: thin
    feed(opt, "b", 40, 160, {"segment": "smb"})
    # Independent computation of the documented model.
    wins, n = 62 + 40, 202 + 200
    pool = (wins + 1) / (n + 2)
    k = opt.options["prior_strength"]
    g_alpha, g_beta = k * pool + 62, k * (1 - pool) + 140
    g_mean = g_alpha / (g_alpha + g_beta)
    strength = min(10.0, g_alpha + g_beta)
    expected = (strength * g_mean + 2) / (strength + 2)
    assert mean_of(opt, "a", {"segment": "enterprise"})["mean"] == pytest.approx(expected)
    assert 2 / 2 > expected > g_mean  # between the raw segment rate and the global rate
    # A segment never seen falls back to the template's global posterior mean.
    assert mean_of(opt, "a", {"segment": "new"})["mean"] == pytest.approx(g_mean)
    # Plenty of segment data dominates the prior.
    assert mean_of(opt, "a", {"segment": "smb"})["mean"] == pytest.approx(0.3, abs=0.01)


def test_position_cells_shrink_toward_their_segment() -> None:
    opt = ContinuousOptimizer(["a"], seed=0, change_threshold=None)
    feed(opt, "a", 20, 80, {"segment": "smb", "position": 1})
    feed(opt, "a", 3, 0, {"segment": "smb", "position": 2})
    seg = mean_of(opt, "a", {"segment": "smb"})["mean"]
    pos2 = mean_of(opt, "a", {"segment": "smb", "position": 2})["mean"]
    assert seg < pos2 < 1.0


def test_discounting_halves_evidence_every_half_life() -> None:
    opt = ContinuousOptimizer(["a", "b"], seed=0, half_life_days=10, change_threshold=None)
    feed(opt, "a", 4, 4, at=T0)
    opt.update_on_outcome("b", True, at=T0 + timedelta(days=10))
    counts = opt.cells.counts["*"]
    assert counts[0].tolist() == pytest.approx([2.0, 2.0])
    assert counts[1].tolist() == pytest.approx([1.0, 0.0])
    # Selection sees the decay up to the moment of selection, without changing the state.
    later = next(r for r in opt.summary(None, at=T0 + timedelta(days=20)) if r["template_id"] == "a")
    prior = opt.options["prior_strength"]
    assert later["pseudo_deals"] == pytest.approx(prior + 4.0 * 0.5)  # 4 outcomes decayed by half
    assert counts[0].tolist() == pytest.approx([2.0, 2.0])


def test_change_detection_follows_an_abrupt_drop_quickly() -> None:
    rng = np.random.default_rng(5)
    opt = ContinuousOptimizer(["a", "b"], seed=0)
    for won in rng.random(1000) < 0.30:
        opt.update_on_outcome("a", bool(won), at=T0)
    assert opt.changes == []
    seen_after = 0
    for won in rng.random(400) < 0.10:
        opt.update_on_outcome("a", bool(won), at=T0 + timedelta(days=1))
        seen_after += 1
        if opt.changes:
            break
    assert opt.changes, "a drop from 30% to 10% went unnoticed"
    assert seen_after < 150
    assert mean_of(opt, "a")["mean"] < 0.2


def test_change_detection_rarely_fires_when_rates_are_fixed() -> None:
    rng = np.random.default_rng(6)
    opt = ContinuousOptimizer(["a", "b"], seed=0)
    for k, won in enumerate(rng.random(40_000) < 0.2):
        opt.update_on_outcome("ab"[k % 2], bool(won), at=T0)
    assert opt.changes == []


def test_a_strongly_positive_reply_boosts_for_24_hours() -> None:
    opt = ContinuousOptimizer(["a", "b"], seed=7)
    feed(opt, "a", 20, 80)
    feed(opt, "b", 20, 80)
    assert not opt.on_response("a", sentiment=0.9, meeting_intent=False, at=T0)
    assert not opt.on_response("a", sentiment=0.1, meeting_intent=True, at=T0)
    assert opt.on_response("a", sentiment=0.9, meeting_intent=True, at=T0)

    def share_a(at: datetime) -> float:
        return [opt.select_template(None, at=at) for _ in range(2000)].count("a") / 2000

    assert share_a(T0 + timedelta(hours=23)) > 0.75
    assert share_a(T0 + timedelta(hours=25)) == pytest.approx(0.5, abs=0.05)


def test_an_ab_test_assigns_stickily_with_its_allocation() -> None:
    opt = ContinuousOptimizer(["control", "variant", "other"], seed=8)
    opt.add_test(ABTest("exp-1", ["control", "variant"], [0.3, 0.7], started_at=T0, segment="smb"))
    opt.set_status("variant", TemplateStatus.TESTING)
    first = {
        f"p{i}": opt.select_template({"segment": "smb", "prospect_id": f"p{i}"}, at=T0) for i in range(3000)
    }
    again = {p: opt.select_template({"segment": "smb", "prospect_id": p}, at=T0) for p in list(first)[:300]}
    assert all(first[p] == v for p, v in again.items())
    n_variant = sum(v == "variant" for v in first.values())
    assert stats.binomtest(n_variant, 3000, 0.7).pvalue > 0.001
    # Outside the test's segment the variant under test is never served.
    assert "variant" not in {opt.select_template({"segment": "mid_market"}, at=T0) for _ in range(300)}


def test_sticky_hash_is_stable_across_machines() -> None:
    # Golden values: SHA-256, not Python's per-process salted hash().
    assert sticky_fraction("t1", "p1") == pytest.approx(0.013920301712267198)
    assert sticky_fraction("exp-42", "deal-7") == pytest.approx(0.23796395985339627)


def test_outcomes_of_unknown_templates_add_them() -> None:
    opt = ContinuousOptimizer(["a"], seed=0)
    opt.update_on_outcome("new", True, {"segment": "smb"}, at=T0)
    assert "new" in opt.template_ids
    assert mean_of(opt, "new")["pseudo_deals"] > 0


def _scenario(opt: ContinuousOptimizer, days: range) -> list[str]:
    """Selections and (deterministic) outcomes over some days; returns what was selected."""
    picked = []
    for day in days:
        at = T0 + timedelta(days=day)
        for k in range(20):
            ctx = {"segment": ["smb", "enterprise"][k % 2], "position": 1 + k % 3, "deal_id": f"d{day}-{k}"}
            t = opt.select_template(ctx, at=at)
            picked.append(t)
            opt.update_on_outcome(t, (day * 7 + k * 3 + len(t)) % 5 == 0, ctx, at=at)
        if day % 5 == 0:
            opt.on_response(picked[-1], 0.9, True, at=at)
    return picked


def test_state_round_trips_through_json_and_continues_identically(tmp_path: Path) -> None:
    opt = ContinuousOptimizer([f"t{i}" for i in range(6)], seed=11, half_life_days=30)
    opt.add_test(ABTest("exp", ["t0", "t5"], [1, 1], started_at=T0, segment="smb"))
    _scenario(opt, range(20))
    saved = json.dumps(opt.to_state())
    restored = ContinuousOptimizer.from_state(json.loads(saved))
    assert json.dumps(restored.to_state()) == saved
    assert _scenario(restored, range(20, 40)) == _scenario(opt, range(20, 40))
    # And in a fresh interpreter with a different hash seed (set iteration order changes there).
    state_file = tmp_path / "state.json"
    state_file.write_text(saved)
    expected = _scenario(ContinuousOptimizer.from_state(json.loads(saved)), range(20, 25))
    code = (
        "import json, sys; from tests.test_optimizer import _scenario; "
        "from feedbackloop.engine.optimizer import ContinuousOptimizer; "
        f"o = ContinuousOptimizer.from_state(json.loads(open({str(state_file)!r}).read())); "
        "print(json.dumps(_scenario(o, range(20, 25))))"
    )
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert json.loads(out.stdout) == expected


def test_unknown_state_versions_are_refused() -> None:
    with pytest.raises(EngineError):
        ContinuousOptimizer.from_state({"version": 99})


def test_each_deal_template_outcome_is_learned_once_within_the_window() -> None:
    opt = ContinuousOptimizer(["a", "b"], seed=0, dedupe_days=30)
    ctx = {"deal_id": "d1", "segment": "smb"}
    assert opt.update_on_outcome("a", True, ctx, at=T0)
    assert not opt.update_on_outcome("a", True, ctx, at=T0 + timedelta(hours=3))  # a webhook retry
    assert opt.update_on_outcome("b", True, ctx, at=T0)  # another template of the same deal
    assert opt.cells.counts["*"].tolist() == [[1.0, 0.0], [1.0, 0.0]]
    restored = ContinuousOptimizer.from_state(json.loads(json.dumps(opt.to_state())))
    assert not restored.update_on_outcome("a", True, ctx, at=T0 + timedelta(days=1))
    restored.update_on_outcome("b", False, {"deal_id": "d2"}, at=T0 + timedelta(days=40))  # d1 ages out
    assert restored.update_on_outcome("a", True, ctx, at=T0 + timedelta(days=40))
    assert len(restored.ledger) == 2


def test_ledger_remembers_an_outcome_older_than_its_window() -> None:
    from feedbackloop.engine.optimizer.ledger import OutcomeLedger

    ledger = OutcomeLedger(window_days=30)
    day = 86400.0
    assert ledger.first_time("D1", "T1", 100 * day)
    assert ledger.first_time("D2", "T1", 10 * day)  # 90 days late: learned once, not a KeyError
    assert not ledger.first_time("D2", "T1", 10 * day)
    assert not ledger.first_time("D2", "T1", 101 * day)
    assert len(ledger) == 2
