"""Attribution weights on hand-computed cases, one row per model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedbackloop.engine.attribution import ATTRIBUTION_MODELS, attribute, touch_weights
from feedbackloop.engine.settings import EngineSettings
from feedbackloop.errors import EngineError

CLOSE = datetime(2024, 3, 1, tzinfo=UTC)


def _world() -> tuple[pd.DataFrame, pd.DataFrame]:
    """d1 won 1000 after A(−28d) B(−14d) A(−7d) C(0d); d2 lost after A(−10d) B(−3d); d3 won 500 after B."""
    deals = pd.DataFrame(
        {
            "deal_id": ["d1", "d2", "d3", "d4"],
            "outcome": ["won", "lost", "won", "open"],
            "amount": [1000.0, 800.0, 500.0, 9999.0],
            "closed_at": [CLOSE, CLOSE, CLOSE, None],
            "segment": ["smb", "smb", "enterprise", "smb"],
        }
    )
    touches = [
        ("d1", "A", 28), ("d1", "B", 14), ("d1", "A", 7), ("d1", "C", 0),
        ("d2", "A", 10), ("d2", "B", 3),
        ("d3", "B", 5),
        ("d4", "C", 1),  # open deal: ignored
        ("d1", None, 1),  # ad-hoc email: ignored
    ]  # fmt: skip
    messages = pd.DataFrame(
        {
            "message_id": [f"m{i}" for i in range(len(touches))],
            "deal_id": [t[0] for t in touches],
            "template_id": [t[1] for t in touches],
            "sent_at": [CLOSE - timedelta(days=t[2]) for t in touches],
            "direction": "outbound",
        }
    )
    return deals, messages


TD_D1 = (0.3895259207, 0.2034913598, 0.4069827195)  # 2^(−age/14) normalised over A(28,7), B(14), C(0)
TD_D2 = (0.4142135624, 0.5857864376)  # A(10), B(3)

# model → (wins, losses) per template A, B, C; revenue is wins-weight × amount of won deals.
CASES = {
    "full": ((1, 2, 1), (1, 1, 0), (1000, 1500, 1000)),
    "first": ((1, 1, 0), (1, 0, 0), (1000, 500, 0)),
    "last": ((0, 1, 1), (0, 1, 0), (0, 500, 1000)),
    "linear": ((0.5, 1.25, 0.25), (0.5, 0.5, 0), (500, 750, 250)),
    "position": ((0.5, 1.1, 0.4), (0.5, 0.5, 0), (500, 600, 400)),
    "time_decay": (
        (TD_D1[0], TD_D1[1] + 1, TD_D1[2]),
        (TD_D2[0], TD_D2[1], 0),
        (1000 * TD_D1[0], 1000 * TD_D1[1] + 500, 1000 * TD_D1[2]),
    ),
}


@pytest.mark.parametrize("model", list(CASES), ids=list(CASES))
def test_attributed_wins_losses_and_revenue(model: str) -> None:
    deals, messages = _world()
    out = attribute(deals, messages, EngineSettings()).query("model == @model").set_index("template_id")
    wins, losses, revenue = CASES[model]
    assert list(out.index) == ["A", "B", "C"]
    np.testing.assert_allclose(out["wins"], wins, atol=1e-9)
    np.testing.assert_allclose(out["losses"], losses, atol=1e-9)
    np.testing.assert_allclose(out["revenue"], revenue, atol=1e-6)
    np.testing.assert_allclose(out["deals"], np.add(wins, losses), atol=1e-9)


def test_every_model_is_reported_and_split_models_conserve_outcomes() -> None:
    deals, messages = _world()
    out = attribute(deals, messages, EngineSettings())
    assert tuple(out["model"].unique()) == ATTRIBUTION_MODELS
    totals = out.groupby("model")[["wins", "losses"]].sum()
    split = totals.drop(index="full")
    np.testing.assert_allclose(split["wins"], 2.0)  # two won deals, each credited once in total
    np.testing.assert_allclose(split["losses"], 1.0)


@pytest.mark.parametrize(
    ("n", "expected"),
    [(1, [1.0]), (2, [0.5, 0.5]), (3, [0.4, 0.2, 0.4]), (5, [0.4, 0.2 / 3, 0.2 / 3, 0.2 / 3, 0.4])],
    ids=["one-touch", "two-touches", "three-touches", "five-touches"],
)
def test_position_model_is_u_shaped(n: int, expected: list[float]) -> None:
    weights = touch_weights("position", np.zeros(n, dtype=int), np.arange(n), np.zeros(n), 14.0)
    np.testing.assert_allclose(weights, expected)


def test_time_decay_halves_weight_per_half_life_and_unknown_age_counts_as_at_close() -> None:
    weights = touch_weights(
        "time_decay", np.zeros(3, dtype=int), np.arange(3), np.array([14.0, 0.0, np.nan]), 14.0
    )
    np.testing.assert_allclose(weights, np.array([0.5, 1.0, 1.0]) / 2.5)


@settings(max_examples=60, deadline=None)
@given(
    touches=st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 3), st.floats(0, 60)), min_size=1, max_size=40
    ),
    model=st.sampled_from(ATTRIBUTION_MODELS),
)
def test_split_models_give_each_deal_exactly_one_outcome(
    touches: list[tuple[int, int, float]], model: str
) -> None:
    """Property: first/last/linear/position/time_decay weights sum to 1 per deal; full gives 1 per
    distinct template of the deal; no weight is negative."""
    touches = sorted(touches)
    deal = np.array([t[0] for t in touches])
    template = np.array([t[1] for t in touches])
    weights = touch_weights(model, deal, template, np.array([t[2] for t in touches]), 14.0)
    assert (weights >= 0).all()
    per_deal = pd.Series(weights).groupby(deal).sum()
    if model == "full":
        expected = pd.Series(template).groupby(deal).nunique()
    else:
        expected = pd.Series(1.0, index=per_deal.index)
    np.testing.assert_allclose(per_deal.to_numpy(), expected.to_numpy(dtype=float))


def test_unknown_model_is_an_engine_error() -> None:
    with pytest.raises(EngineError, match="unknown attribution model"):
        touch_weights("shapley", np.zeros(1, dtype=int), np.zeros(1, dtype=int), np.zeros(1), 14.0)
