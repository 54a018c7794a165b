"""Segment insights against known truth: interaction detection, top templates, sequence patterns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from feedbackloop.engine.exposure import build_exposures
from feedbackloop.engine.segments import (
    segment_insights,
    segment_interactions,
    sequence_patterns,
    top_templates_by_segment,
)
from feedbackloop.engine.settings import EngineSettings
from tests.insights_data import make_world

SETTINGS = EngineSettings()


@pytest.fixture(scope="module")
def interaction_world():
    """T00 is strong only in enterprise; T01 is uniformly strong; the rest are neutral."""
    effects = {f"T{i:02d}": 0.0 for i in range(6)} | {"T01": 0.6}
    return make_world(
        seed=3, n_deals=4000, n_templates=6, effects=effects, interaction={("T00", "enterprise"): 1.2}
    )


def test_segment_specific_winner_is_found_and_uniform_template_is_not(interaction_world) -> None:
    w = interaction_world
    exposures = build_exposures(w.deals, w.messages, SETTINGS)
    tests, cells = segment_interactions(exposures, w.deals, SETTINGS)
    significant = dict(zip(tests["template_id"], tests["significant"], strict=True))
    q_value = dict(zip(tests["template_id"], tests["q_value"], strict=True))
    assert significant["T00"]
    assert q_value["T00"] < 1e-3
    assert not significant["T01"]  # strong everywhere is not an interaction
    winners = cells[cells["winner"]]
    assert list(zip(winners["template_id"], winners["segment"], strict=True)) == [("T00", "enterprise")]


def test_no_false_interactions_without_truth() -> None:
    """Under the null (no interaction anywhere) BH keeps false discoveries rare across seeds."""
    found = 0
    for seed in range(4):
        w = make_world(seed=seed, n_deals=2000, n_templates=6)
        tests, _ = segment_interactions(build_exposures(w.deals, w.messages, SETTINGS), w.deals, SETTINGS)
        found += int(tests["significant"].sum())
    assert found <= 1


def test_wald_test_matches_statsmodels_logit_without_penalty() -> None:
    """With the ridge penalty → 0 the interaction test equals statsmodels' Wald test on the same model."""
    w = make_world(seed=5, n_deals=3000, n_templates=5, per_deal=(1, 4), interaction={("T02", "smb"): 0.7})
    settings = EngineSettings(l2_penalty=1e-8)
    exposures = build_exposures(w.deals, w.messages, settings)
    tests, _ = segment_interactions(exposures, w.deals, settings)
    ours = dict(zip(tests["template_id"], tests["p_value"], strict=True))

    deals = exposures.drop_duplicates("deal_id")[["deal_id", "segment", "won"]].reset_index(drop=True)
    has = pd.crosstab(exposures["deal_id"], exposures["template_id"]).clip(upper=1).reindex(deals["deal_id"])
    has = has.reset_index(drop=True).astype(float)
    ref = deals["segment"].value_counts().index[0]
    segs = [s for s in deals["segment"].value_counts().index if s != ref]
    dummies = pd.DataFrame({s: (deals["segment"] == s).astype(float) for s in segs})
    inter = pd.concat([has[t].mul(dummies[s]).rename(f"{t}:{s}") for s in segs for t in has.columns], axis=1)
    x = pd.concat([pd.Series(1.0, index=deals.index, name="const"), dummies, has, inter], axis=1)
    res = sm.Logit(deals["won"].astype(float), x).fit(disp=0, maxiter=200)
    for t in has.columns:
        names = [f"{t}:{s}" for s in segs]
        # Effect relative to the average template in each segment, as in segment_interactions.
        r = np.zeros((len(names), x.shape[1]))
        for i, (name, s) in enumerate(zip(names, segs, strict=True)):
            for other in has.columns:
                r[i, list(x.columns).index(f"{other}:{s}")] -= 1 / has.shape[1]
            r[i, list(x.columns).index(name)] += 1.0
        p_sm = float(res.wald_test(r, scalar=True).pvalue)
        assert ours[t] == pytest.approx(p_sm, rel=1e-3, abs=1e-9), t
    assert ours["T02"] < 0.01


def test_top_templates_per_segment_rank_the_enterprise_specialist_first(interaction_world) -> None:
    w = interaction_world
    top = top_templates_by_segment(build_exposures(w.deals, w.messages, SETTINGS), SETTINGS)
    enterprise = top[top["segment"] == "enterprise"].sort_values("rank")
    assert enterprise.iloc[0]["template_id"] == "T00"
    smb = top[top["segment"] == "smb"].sort_values("rank")
    assert smb.iloc[0]["template_id"] == "T01"
    assert (top["ci_low"] <= top["posterior_mean"]).all()
    assert (top["posterior_mean"] <= top["ci_high"]).all()


def _hand_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, msgs = [], []
    sequences = {("A", "B", "C"): (30, 20), ("A", "A", "B"): (10, 30), ("C", "B"): (5, 5)}
    i = 0
    for seq, (won, lost) in sequences.items():
        for k in range(won + lost):
            deal = f"D{i}"
            rows.append({"deal_id": deal, "outcome": "won" if k < won else "lost"})
            for pos, t in enumerate(seq, start=1):
                at = pd.Timestamp("2026-01-01", tz="UTC") + pd.Timedelta(days=pos)
                msgs.append({"deal_id": deal, "template_id": t, "sent_at": at, "position": pos})
            i += 1
    return pd.DataFrame(rows), pd.DataFrame(msgs)


def test_sequence_patterns_hand_case() -> None:
    deals, messages = _hand_frames()
    patterns = sequence_patterns(deals, messages, EngineSettings(pattern_min_occurrences=20))
    got = {
        (str(k), tuple(p)): (int(n), int(w))
        for k, p, n, w in zip(
            patterns["kind"], patterns["pattern"], patterns["deals"], patterns["won"], strict=True
        )
    }
    assert got[("full", ("A", "B", "C"))] == (50, 30)
    assert got[("full", ("A", "B"))] == (40, 10)  # A, A, B collapses to A, B
    assert got[("subsequence", ("A", "B"))] == (90, 40)  # counted once per deal
    assert got[("subsequence", ("B", "C"))] == (50, 30)
    assert ("full", ("C", "B")) not in got  # 10 occurrences < 20
    row = patterns[(patterns["kind"] == "full") & (patterns["pattern"] == ("A", "B", "C"))].iloc[0]
    assert row["win_rate"] == pytest.approx(0.6)
    assert row["ci_low"] < 0.6 < row["ci_high"]


@pytest.mark.parametrize(
    "mutate",
    [
        pytest.param(lambda d, m: (d.iloc[:0], m.iloc[:0]), id="empty"),
        pytest.param(lambda d, m: (d.assign(segment=None), m), id="no-segments"),
        pytest.param(lambda d, m: (d.assign(outcome="won"), m), id="all-won"),
        pytest.param(lambda d, m: (d, m.iloc[:0]), id="no-messages"),
        pytest.param(
            lambda d, m: (d.assign(segment=[f"s{i % 40}" for i in range(len(d))]), m),
            id="forty-small-segments",
        ),
    ],
)
def test_segment_insights_thin_data_never_raises(mutate) -> None:
    w = make_world(seed=1, n_deals=200, n_templates=4)
    deals, messages = mutate(w.deals, w.messages)
    out = segment_insights(build_exposures(deals, messages, SETTINGS), deals, messages, SETTINGS)
    assert out["data_status"] in {"ok", "insufficient_data", "no_data"}
    assert isinstance(out["segments"], list)
