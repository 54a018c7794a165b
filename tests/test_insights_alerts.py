"""The four alerts on constructed deal histories, their thresholds, and per-period deduplication."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from feedbackloop.engine.alerts import alert_period, build_alerts
from feedbackloop.engine.decisions import decide
from feedbackloop.engine.result import PreviousState
from feedbackloop.engine.settings import EngineSettings

AS_OF = datetime(2026, 6, 10, 12, tzinfo=UTC)
SETTINGS = EngineSettings()


def _closed(
    recent: dict[str, tuple[int, int]],
    historical: dict[str, tuple[int, int]],
    competitor: dict[str, tuple[str, int, int]] | None = None,
) -> pd.DataFrame:
    """Deals per segment: (won, lost) closed 10 days ago (recent) and 75 days ago (historical).

    ``competitor`` names (competitor, recent lost, historical lost) to tag on lost deals of a segment.
    """
    rows = []
    tags = competitor or {}
    for window, counts, days in (("recent", recent, 10), ("historical", historical, 75)):
        for segment, (won, lost) in counts.items():
            name, r_tag, h_tag = tags.get(segment, (None, 0, 0))
            tagged = r_tag if window == "recent" else h_tag
            for i in range(won + lost):
                is_won = i < won
                rows.append(
                    {
                        "deal_id": f"{window}-{segment}-{i}",
                        "won": is_won,
                        "closed_at": pd.Timestamp(AS_OF - timedelta(days=days)),
                        "segment": segment,
                        "competitor": name if not is_won and i - won < tagged else None,
                    }
                )
    return pd.DataFrame(rows)


def _kinds(closed: pd.DataFrame) -> set[str]:
    return {a["key"] for a in build_alerts(closed, [], SETTINGS, AS_OF).alerts}


def test_overall_drop_fires_on_a_large_significant_drop_only() -> None:
    assert "overall_drop:all" in _kinds(_closed({"smb": (60, 140)}, {"smb": (100, 100)}))  # 30% vs 50%
    assert "overall_drop:all" not in _kinds(_closed({"smb": (45, 55)}, {"smb": (50, 50)}))  # −10%: small
    assert "overall_drop:all" not in _kinds(_closed({"smb": (3, 7)}, {"smb": (5, 5)}))  # too few deals


def test_segment_decline_is_per_segment() -> None:
    closed = _closed(
        {"smb": (100, 100), "enterprise": (20, 80)},
        {"smb": (100, 100), "enterprise": (50, 50)},
    )
    keys = _kinds(closed)
    assert "segment_decline:enterprise" in keys
    assert "segment_decline:smb" not in keys


def test_competitor_surge() -> None:
    closed = _closed(
        {"smb": (100, 100)},
        {"smb": (100, 100)},
        competitor={"smb": ("Acme", 60, 15)},  # 60% of recent losses vs 15% before
    )
    alerts = build_alerts(closed, [], SETTINGS, AS_OF).alerts
    surge = [a for a in alerts if a["kind"] == "competitor_surge"]
    assert [a["subject"] for a in surge] == ["Acme"]
    assert surge[0]["data"]["recent_share"] == pytest.approx(0.6)
    assert surge[0]["data"]["historical_share"] == pytest.approx(0.15)


def test_failing_template_comes_from_the_decisions() -> None:
    table = pd.DataFrame(
        {
            "deals": [500, 500, 500],
            "score": [0.0, 0.0, -1.0],
            "score_se": [1e-4, 1e-4, 0.05],
            "declining": False,
        },
        index=["A", "B", "BAD"],
    )
    templates = pd.DataFrame({"template_id": ["A", "B", "BAD"], "status": "active", "pinned": False})
    decisions = decide(table, templates, SETTINGS, AS_OF)
    alerts = build_alerts(_closed({}, {}), decisions, SETTINGS, AS_OF).alerts
    assert [(a["key"], a["severity"]) for a in alerts] == [("failing_template:BAD", "high")]


def test_alerts_are_deduplicated_per_period() -> None:
    closed = _closed({"smb": (60, 140)}, {"smb": (100, 100)})
    first = build_alerts(closed, [], SETTINGS, AS_OF)
    keys = ["overall_drop:all", "segment_decline:smb"]
    assert [a["key"] for a in first.alerts] == keys
    assert first.alerts[0]["period"] == "2026-W24"
    previous = PreviousState(AS_OF, alert_keys=first.alert_keys)
    same_week = build_alerts(closed, [], SETTINGS, AS_OF + timedelta(days=1), previous)
    assert same_week.alerts == []
    assert same_week.suppressed == keys
    next_week = build_alerts(
        closed, [], SETTINGS, AS_OF + timedelta(days=7), PreviousState(alert_keys=same_week.alert_keys)
    )
    assert [a["key"] for a in next_week.alerts] == keys


@pytest.mark.parametrize(
    ("period", "expected"),
    [("day", "2026-06-10"), ("week", "2026-W24"), ("month", "2026-06")],
)
def test_alert_period(period: str, expected: str) -> None:
    assert alert_period(AS_OF, period) == expected


def test_thresholds_are_configurable() -> None:
    closed = _closed({"smb": (75, 125)}, {"smb": (100, 100)})  # 37.5% vs 50%: a 25% drop
    assert "overall_drop:all" in {a["key"] for a in build_alerts(closed, [], SETTINGS, AS_OF).alerts}
    lenient = EngineSettings(alert_overall_drop=0.3, alert_segment_drop=0.3)
    assert build_alerts(closed, [], lenient, AS_OF).alerts == []


def test_no_data_no_alerts() -> None:
    empty = pd.DataFrame(
        {"deal_id": [], "won": np.array([], dtype=bool), "closed_at": pd.to_datetime([], utc=True),
         "segment": [], "competitor": []}
    )  # fmt: skip
    assert build_alerts(empty, [], SETTINGS, AS_OF).alerts == []


def test_failing_template_is_not_repeated_for_an_already_deprecated_template() -> None:
    table = pd.DataFrame(
        {
            "deals": [500, 500, 500],
            "score": [0.0, 0.0, -1.0],
            "score_se": [1e-4, 1e-4, 0.05],
            "declining": False,
        },
        index=["A", "B", "BAD"],
    )
    templates = pd.DataFrame({"template_id": ["A", "B", "BAD"], "status": ["active", "active", "deprecated"]})
    templates["pinned"] = False
    decisions = decide(table, templates, SETTINGS, AS_OF)
    assert next(d for d in decisions if d.template_id == "BAD").action == "deprecate"
    assert build_alerts(_closed({}, {}), decisions, SETTINGS, AS_OF).alerts == []
