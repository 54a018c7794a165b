"""Exposures: one row per closed deal × template, whatever the number of sends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from feedbackloop.engine.exposure import EXPOSURE_COLUMNS, build_exposures
from feedbackloop.engine.settings import EngineSettings

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _deals() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "deal_id": ["won1", "lost1", "open1", "meet1", "nosegment"],
            "outcome": ["won", "lost", "open", "meeting", "lost"],
            "amount": [100.0, 200.0, 300.0, 400.0, None],
            "closed_at": [T0 + timedelta(days=30)] * 2 + [None] + [T0 + timedelta(days=30)] * 2,
            "segment": ["smb", "enterprise", "smb", "smb", None],
        }
    )


def _messages(rows: list[tuple[str, str | None, int, int, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "message_id": [f"m{i}" for i in range(len(rows))],
            "deal_id": [r[0] for r in rows],
            "template_id": [r[1] for r in rows],
            "sent_at": [T0 + timedelta(days=r[2]) for r in rows],
            "position": [r[3] for r in rows],
            "direction": [r[4] for r in rows],
        }
    )


def test_three_sends_of_a_template_are_one_exposure() -> None:
    messages = _messages(
        [
            ("won1", "A", 3, 2, "outbound"),
            ("won1", "A", 1, 1, "outbound"),
            ("won1", "A", 9, 3, "outbound"),
            ("won1", "B", 5, 2, "outbound"),
        ]
    )
    frame = build_exposures(_deals(), messages, EngineSettings())
    assert tuple(frame.columns) == EXPOSURE_COLUMNS
    out = frame.set_index("template_id")
    assert out.loc["A", "n_messages"] == 3
    assert out.loc["A", "first_sent_at"] == T0 + timedelta(days=1)
    assert out.loc["A", "last_sent_at"] == T0 + timedelta(days=9)
    assert out.loc["A", "first_position"] == 1
    assert bool(out.loc["A", "won"])
    assert out.loc["B", "n_messages"] == 1


@pytest.mark.parametrize(
    ("row", "kept"),
    [
        (("won1", "A", 1, 1, "outbound"), True),
        (("lost1", "A", 1, 1, "outbound"), True),
        (("open1", "A", 1, 1, "outbound"), False),
        (("meet1", "A", 1, 1, "outbound"), False),
        (("won1", None, 1, 1, "outbound"), False),
        (("won1", "", 1, 1, "outbound"), False),
        (("won1", "A", 1, 1, "inbound"), False),
        (("won1", "A", 45, 1, "outbound"), False),
        (("ghost", "A", 1, 1, "outbound"), False),
    ],
    ids=[
        "won",
        "lost",
        "open-deal",
        "not-success-or-failure",
        "ad-hoc",
        "ad-hoc-empty-id",
        "inbound",
        "after-close",
        "unknown-deal",
    ],
)
def test_which_messages_make_exposures(row: tuple[str, str | None, int, int, str], kept: bool) -> None:
    out = build_exposures(_deals(), _messages([row]), EngineSettings())
    assert len(out) == int(kept)


def test_outcome_mapping_and_after_close_switch_are_configurable() -> None:
    settings = EngineSettings(success_outcomes=("won", "meeting"), exclude_messages_after_close=False)
    messages = _messages([("meet1", "A", 1, 1, "outbound"), ("won1", "B", 45, 1, "outbound")])
    out = build_exposures(_deals(), messages, settings).set_index("deal_id")
    assert bool(out.loc["meet1", "won"])
    assert "won1" in out.index


def test_missing_segment_becomes_unknown() -> None:
    out = build_exposures(_deals(), _messages([("nosegment", "A", 1, 1, "outbound")]), EngineSettings())
    assert out["segment"].tolist() == ["unknown"]
    assert pd.isna(out["amount"].iloc[0])
