"""Thin and odd data: every core function returns a result with status codes, never raises."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from feedbackloop.engine import (
    EngineSettings,
    adjusted_effects,
    attribute,
    build_exposures,
    detect_declines,
    template_stats,
)

AS_OF = datetime(2025, 6, 1, tzinfo=UTC)
DEAL_COLUMNS = ["deal_id", "outcome", "amount", "closed_at", "segment"]
MESSAGE_COLUMNS = ["message_id", "deal_id", "template_id", "sent_at", "position", "direction"]


def _frames(
    n: int, outcome: Callable[[int], str], template: Callable[[int], str | None], segment: str | None = "smb"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """n deals closed over the last 100 days, each with one message of template(i) (None: no message)."""
    closed = [AS_OF - timedelta(days=100 * i / max(n, 1)) for i in range(n)]
    deals = pd.DataFrame(
        {
            "deal_id": [f"d{i}" for i in range(n)],
            "outcome": [outcome(i) for i in range(n)],
            "amount": 1000.0,
            "closed_at": [c if outcome(i) != "open" else None for i, c in enumerate(closed)],
            "segment": segment,
        },
        columns=DEAL_COLUMNS,
    )
    rows = [
        (f"m{i}", f"d{i}", template(i), closed[i] - timedelta(days=3), 1, "outbound")
        for i in range(n)
        if template(i) is not None
    ]
    return deals, pd.DataFrame(rows, columns=MESSAGE_COLUMNS)


def _alternating(i: int) -> str:
    return "won" if i % 3 == 0 else "lost"


SCENARIOS: dict[str, tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]] = {
    "empty-frames": (pd.DataFrame(columns=DEAL_COLUMNS), pd.DataFrame(columns=MESSAGE_COLUMNS), {}),
    "no-columns-at-all": (pd.DataFrame(), pd.DataFrame(), {}),
    "one-deal": (*_frames(1, _alternating, lambda i: "A"), {"A": "insufficient_data"}),
    "one-template": (*_frames(200, _alternating, lambda i: "A"), {"A": "no_comparison"}),
    "all-won": (*_frames(200, lambda i: "won", lambda i: "AB"[i % 2]), {"A": "no_variation"}),
    "all-lost": (*_frames(200, lambda i: "lost", lambda i: "AB"[i % 2]), {"A": "no_variation"}),
    "only-open-deals": (*_frames(50, lambda i: "open", lambda i: "A"), {}),
    "missing-segments": (*_frames(200, _alternating, lambda i: "AB"[i % 2], segment=None), {"A": "ok"}),
    "deals-without-messages": (*_frames(200, _alternating, lambda i: None), {}),
    "adhoc-only": (*_frames(200, _alternating, lambda i: None if i % 2 else "AB"[i % 4 // 2]), {"A": "ok"}),
}


def _odd(kind: str) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    deals, messages = _frames(200, _alternating, lambda i: "AB"[i % 2])
    if kind == "closed-without-date":
        deals.loc[::3, "closed_at"] = None
    elif kind == "messages-without-time":
        messages["sent_at"] = pd.NaT
    elif kind == "duplicate-deal-rows":
        deals = pd.concat([deals, deals.iloc[:50]], ignore_index=True)
    elif kind == "outcome-column-missing":
        deals = deals.drop(columns="outcome")
    return deals, messages, {"A": "ok"} if kind != "outcome-column-missing" else {}


for _kind in (
    "closed-without-date",
    "messages-without-time",
    "duplicate-deal-rows",
    "outcome-column-missing",
):
    SCENARIOS[_kind] = _odd(_kind)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_core_functions_return_statuses_not_exceptions(name: str) -> None:
    deals, messages, expected_effect_status = SCENARIOS[name]
    settings = EngineSettings()
    exposures = build_exposures(deals, messages, settings)
    attributed = attribute(deals, messages, settings)
    stats = template_stats(exposures, settings, templates=["never_used"])
    effects = adjusted_effects(exposures, deals, settings)
    trends = detect_declines(exposures, deals, settings, AS_OF)
    assert set(attributed.columns) >= {"template_id", "model", "wins", "revenue"}
    assert stats.loc["never_used", "data_status"] == "no_closed_deals"
    assert set(stats["data_status"]) <= {"ok", "insufficient_data", "no_closed_deals"}
    allowed = {"ok", "insufficient_data", "no_closed_deals", "no_variation", "no_comparison"}
    assert set(effects["data_status"]) <= allowed
    assert set(trends["data_status"]) <= allowed
    assert list(effects.index) == list(trends.index) == sorted(exposures["template_id"].unique())
    for template, status in expected_effect_status.items():
        assert effects.loc[template, "data_status"] == status
    if len(exposures) == 0:
        assert stats.attrs["prior_status"] == "no_closed_deals"
        assert np.isnan(stats.attrs["baseline_win_rate"])


def test_missing_segments_become_unknown_in_the_model() -> None:
    deals, messages, _ = SCENARIOS["missing-segments"]
    exposures = build_exposures(deals, messages, EngineSettings())
    assert set(exposures["segment"]) == {"unknown"}
    assert np.isfinite(adjusted_effects(exposures, deals, EngineSettings())["score"]).all()


def test_no_variation_gives_nan_scores_and_a_weak_prior() -> None:
    deals, messages, _ = SCENARIOS["all-won"]
    exposures = build_exposures(deals, messages, EngineSettings())
    effects = adjusted_effects(exposures, deals, EngineSettings())
    assert effects["score"].isna().all()
    stats = template_stats(exposures, EngineSettings())
    assert stats.attrs["prior_status"] == "no_variation"
    assert (stats["posterior_mean"] < 1).all()
    trends = detect_declines(exposures, deals, EngineSettings(), AS_OF)
    assert not trends["declining"].any()


def test_unknown_covariates_and_an_as_of_before_the_data_are_harmless() -> None:
    deals, messages, _ = SCENARIOS["one-template"]
    settings = EngineSettings(covariates=("segment", "no_such_column", "amount"))
    exposures = build_exposures(deals, messages, settings)
    assert adjusted_effects(exposures, deals, settings).loc["A", "data_status"] == "no_comparison"
    trends = detect_declines(exposures, deals, settings, datetime(2000, 1, 1, tzinfo=UTC))
    assert (trends["data_status"] == "no_closed_deals").all()
