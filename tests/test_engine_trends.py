"""Declining templates: windows, the seed's raw rule, and the adjusted test with FDR control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import special
from statsmodels.stats.multitest import multipletests

from feedbackloop.engine.settings import EngineSettings
from feedbackloop.engine.trends import detect_declines, trend_windows
from feedbackloop.errors import EngineError

AS_OF = datetime(2025, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("days_before", "recent", "historical"),
    [
        (0, True, False),
        (29.9, True, False),
        (30, False, False),
        (45, False, False),
        (60, False, True),
        (89.9, False, True),
        (90, False, False),
        (-1, False, False),
    ],
    ids=[
        "as-of",
        "inside-recent",
        "recent-edge",
        "gap",
        "historical-end",
        "inside-historical",
        "historical-start",
        "future",
    ],
)
def test_windows_follow_the_seed(days_before: float, recent: bool, historical: bool) -> None:
    closed = pd.Series([AS_OF - timedelta(days=days_before)])
    r, h = trend_windows(closed, EngineSettings(), AS_OF)
    assert (bool(r[0]), bool(h[0])) == (recent, historical)


def test_naive_as_of_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="timezone-aware"):
        trend_windows(pd.Series([AS_OF]), EngineSettings(), datetime(2025, 6, 1))


def _trend_world(seed: int, n_deals: int = 6000) -> pd.DataFrame:
    """Deals closed over the last 100 days; 'drop' loses 1.5 log-odds in the recent window; 'buddy'
    travels with 'drop' in two thirds of its deals and never changes; four more templates are stable."""
    rng = np.random.default_rng(seed)
    effects = {"drop": 0.5, "buddy": 0.3, "s1": 0.2, "s2": -0.2, "s3": 0.0, "s4": 0.4}
    rows = []
    for i in range(n_deals):
        closed = AS_OF - timedelta(days=float(rng.uniform(0, 100)))
        recent = closed > AS_OF - timedelta(days=30)
        templates = list(rng.choice(["s1", "s2", "s3", "s4"], 2, replace=False))
        roll = rng.random()
        templates += (
            ["drop", "buddy"] if roll < 0.3 else ["buddy"] if roll < 0.45 else ["drop"] if roll < 0.5 else []
        )
        logit = -0.7 + sum(effects[t] for t in templates) - (1.5 if recent and "drop" in templates else 0.0)
        won = bool(rng.random() < special.expit(logit))
        rows += [(f"d{i}", t, won, closed, "smb") for t in templates]
    frame = pd.DataFrame(rows, columns=["deal_id", "template_id", "won", "closed_at", "segment"])
    frame["closed_at"] = pd.to_datetime(frame["closed_at"], utc=True)
    return frame


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_own_decline_is_found_and_sequence_partner_is_not(seed: int) -> None:
    out = detect_declines(_trend_world(seed), None, EngineSettings(), AS_OF)
    assert bool(out.loc["drop", "raw_rule_fired"])
    assert bool(out.loc["buddy", "raw_rule_fired"])  # the raw rule is fooled by the shared deals
    assert bool(out.loc["drop", "declining"])
    assert not out.drop(index="drop")["declining"].any()
    assert (out["data_status"] == "ok").all()


@pytest.mark.parametrize("method", ["holm", "bh"])
def test_q_values_are_statsmodels_multipletests_of_the_one_sided_p_values(method: str) -> None:
    out = detect_declines(_trend_world(4), None, EngineSettings(fdr_method=method), AS_OF)
    expected = multipletests(out["p_value"], method={"holm": "holm", "bh": "fdr_bh"}[method])[1]
    np.testing.assert_allclose(out["q_value"], expected)
    # one-sided: a template whose adjusted effect rose has p > 0.5
    assert ((out["change"] > 0) == (out["p_value"] > 0.5)).all()


def test_raw_rule_is_the_seeds_twenty_percent_relative_drop() -> None:
    rows = [("r", True)] * 3 + [("r", False)] * 7 + [("h", True)] * 5 + [("h", False)] * 5
    frame = pd.DataFrame(
        {
            "deal_id": [f"d{i}" for i in range(len(rows))],
            "template_id": "t",
            "won": [w for _, w in rows],
            "closed_at": [AS_OF - timedelta(days=5 if p == "r" else 70) for p, _ in rows],
            "segment": "smb",
        }
    )
    out = detect_declines(frame, None, EngineSettings(), AS_OF).loc["t"]
    assert out["recent_win_rate"] == pytest.approx(0.3)
    assert out["historical_win_rate"] == pytest.approx(0.5)
    assert out["relative_change"] == pytest.approx(-0.4)
    assert bool(out["raw_rule_fired"])
    assert not bool(out["declining"])  # ten deals per window cannot make a significant drop
