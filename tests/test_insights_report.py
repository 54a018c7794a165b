"""The report section and recommendations on hand-built sections, and the rich rendering."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
from rich.console import Console

from feedbackloop.commands.engine import parse_as_of
from feedbackloop.engine.decisions import Decision
from feedbackloop.engine.report import build_report, recommendations, render_report
from feedbackloop.engine.result import PreviousState
from feedbackloop.engine.settings import EngineSettings
from feedbackloop.errors import UsageError


def _decision(tid: str, action: str, previous: str, status: str, *, pinned: bool = False) -> Decision:
    return Decision(tid, action, status, previous, status != previous, pinned, {}, {}, f"because {tid}", "ok")


def _template(tid: str, score: float, action: str = "keep") -> dict[str, object]:
    return {
        "template_id": tid, "name": tid, "deals": 100, "win_rate": 0.3, "posterior_mean": 0.3, "score": score,
        "status": "active", "action": action, "data_status": "ok",
        "decision_numbers": {"centred_score": score, "p_better_than_average": 0.5},
    }  # fmt: skip


def test_recommendations_order_and_standing_decisions() -> None:
    decisions = [
        _decision("A", "promote", "active", "promoted"),
        _decision("B", "deprecate", "active", "deprecated"),
        _decision("C", "deprecate", "deprecated", "deprecated"),  # standing: not repeated
        _decision("D", "deprecate", "active", "active", pinned=True),
        _decision("E", "keep", "active", "active"),
    ]
    segments = {"segment_winners": [{"template_id": "A", "segment": "smb", "effect": 0.5, "deviation": 0.3}]}
    win_loss = {
        "deals_closed": 100,
        "won": 40,
        "objections": [{"category": "price", "deals": 20, "resolution_rate": 0.1}],
    }
    recs = recommendations(decisions, segments, win_loss)
    assert [(r["kind"], r.get("template_id") or r.get("category"), r["priority"]) for r in recs] == [
        ("template", "B", "high"),
        ("template", "D", "high"),
        ("template", "A", "medium"),
        ("segment", "A", "medium"),
        ("objection", "price", "low"),
    ]
    pinned = next(r for r in recs if r.get("template_id") == "D")
    assert not pinned["applied"]
    assert "pinned" in pinned["message"]


def test_report_splits_performers_by_the_centred_score() -> None:
    templates = [_template("UP", 0.5), _template("MID", 0.01), _template("DOWN", -0.4, "deprecate")]
    templates.append({**_template("THIN", 2.0), "data_status": "insufficient_data"})
    report = build_report({"overall": {"data_status": "ok"}, "templates": templates}, [], EngineSettings())
    assert [t["template_id"] for t in report["top_performers"]] == ["UP", "MID"]
    assert [t["template_id"] for t in report["underperformers"]] == ["DOWN"]
    assert report["insights"][0].startswith("Strongest template: UP")


def test_render_report_prints_every_section_and_none_for_empty_ones() -> None:
    report = build_report({"overall": {"data_status": "no_data", "deals_closed": 0}}, [], EngineSettings())
    out = io.StringIO()
    render_report(
        {"as_of": "2026-06-01T00:00:00+00:00", "report": report, "alerts": []}, Console(file=out, width=120)
    )
    text = out.getvalue()
    for title in (
        "Overall",
        "Top performers: (none)",
        "Underperformers: (none)",
        "Insights",
        "Recommendations",
    ):
        assert title in text


def test_report_in_an_80_column_terminal_keeps_ids_numbers_and_statuses_whole() -> None:
    # long names must wrap; ids, numbers, statuses and actions must never be cut off or folded
    templates = [
        {**_template(f"3000{i:02d}", score, action), "name": f"Step {i} · a rather long case study name #{i}",
         "deals": 12345, "win_rate": 0.5421, "status": "deprecated" if action == "deprecate" else "promoted",
         "decision_numbers": {"centred_score": score, "p_better_than_average": 0.987}}
        for i, (score, action) in enumerate([(1.234, "promote"), (0.5, "promote"), (-1.086, "deprecate")])
    ]  # fmt: skip
    report = build_report({"overall": {"data_status": "ok"}, "templates": templates}, [], EngineSettings())
    out = io.StringIO()
    render_report({"as_of": "2026-06-01T00:00:00+00:00", "report": report}, Console(file=out, width=80))
    text = out.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    lines = text.splitlines()
    for t in templates:
        row = next(line for line in lines if line.startswith(str(t["template_id"])))
        for cell in ("12345", "0.542", f"{t['score']:.3f}", "0.987", t["status"], t["action"]):
            assert f" {cell}" in row, (cell, row)
    assert "a rather long case study name" not in text  # wrapped onto a second line, not cut


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-06-01", "2026-06-01T00:00:00+00:00"),
        ("2026-06-01T12:30", "2026-06-01T12:30:00+00:00"),
        ("2026-06-01T12:30+02:00", "2026-06-01T10:30:00+00:00"),
    ],
)
def test_parse_as_of(value: str, expected: str) -> None:
    assert parse_as_of(value).isoformat() == expected


def test_bad_as_of_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_as_of("yesterday")
    result = subprocess.run(
        [sys.executable, "-m", "feedbackloop.cli", "analyze", "--as-of", "yesterday"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--as-of" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "stored",
    [
        None,
        {},
        {"state": "garbage"},
        {"state": {"templates": {"T1": {"since": "not a time"}}}},
        {"state": {"templates": {"T1": "not a dict"}}},
        {"as_of": 5, "state": {"templates": {}, "alert_keys": {"k": "2026-W01"}}},
    ],
)
def test_previous_state_from_damaged_results_never_raises(stored: dict[str, object] | None) -> None:
    state = PreviousState.from_result(stored)
    assert state is None or isinstance(state, PreviousState)
