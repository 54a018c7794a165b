"""Win/loss analysis on hand-built deals whose answers are known."""

from __future__ import annotations

import pandas as pd
import pytest

from feedbackloop.engine.settings import EngineSettings
from feedbackloop.engine.winloss import win_loss_analysis

T0 = pd.Timestamp("2026-03-01", tz="UTC")


def _deal(i: int, outcome: str, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "deal_id": f"D{i}",
        "outcome": outcome,
        "closed_at": T0 + pd.Timedelta(days=10),
        "loss_reason": None,
        "competitor": None,
        "stage_lost": None,
    }
    return base | kw


def _msg(deal: int, pos: int, template: str, **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "deal_id": f"D{deal}",
        "template_id": template,
        "sequence_id": "S1",
        "position": pos,
        "sent_at": T0 + pd.Timedelta(days=pos),
        "opened": True,
        "clicked": False,
        "replied": False,
        "objections": None,
    }
    return base | kw


@pytest.fixture
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    deals = pd.DataFrame(
        [
            _deal(1, "won"),
            _deal(2, "won"),
            _deal(3, "lost", loss_reason="price", competitor="Acme", stage_lost="proposal"),
            _deal(4, "lost", loss_reason="price", competitor="Acme", stage_lost="proposal"),
            _deal(5, "lost", loss_reason="timing", stage_lost="demo"),
            _deal(6, "lost", loss_reason="  ", competitor="Globex"),
            _deal(7, "won", competitor="Acme"),
            _deal(8, "open"),
            _deal(9, "disqualified", loss_reason="price"),
        ]
    )
    messages = pd.DataFrame(
        [
            _msg(1, 1, "A"), _msg(1, 2, "B", replied=True, objections="price"),
            _msg(2, 1, "A"),
            _msg(3, 1, "A"), _msg(3, 2, "C", replied=True, objections="price,timing"),
            _msg(4, 1, "A"), _msg(4, 2, "C"),
            _msg(5, 1, "B", replied=True, objections="timing"),
            _msg(5, 2, "C", sent_at=T0 + pd.Timedelta(days=30)),  # after close: not "last before loss"
            _msg(6, 1, "A", sequence_id="S2"),
            _msg(7, 1, "A"), _msg(7, 2, "B"), _msg(7, 3, "C", replied=True, objections="competitor"),
            _msg(8, 1, "A", objections="price"),  # open deal: not counted
        ]
    )  # fmt: skip
    return deals, messages


def test_loss_reasons_stages_and_competitors(frames) -> None:
    deals, messages = frames
    out = win_loss_analysis(deals, messages, EngineSettings())
    assert (out["deals_closed"], out["won"], out["lost"]) == (7, 3, 4)  # open and disqualified excluded
    reasons = {r["label"]: (r["lost"], r["share"]) for r in out["loss_reasons"]}
    assert reasons == {"price": (2, 0.5), "timing": (1, 0.25), "unknown": (1, 0.25)}
    stages = {r["label"]: r["lost"] for r in out["stages_lost"]}
    assert stages == {"proposal": 2, "demo": 1, "unknown": 1}
    comp = {r["competitor"]: r for r in out["competitor_losses"]}
    assert comp["Acme"]["lost"] == 2
    assert comp["Acme"]["deals"] == 3
    assert comp["Acme"]["share_of_losses"] == pytest.approx(0.5)
    assert comp["Acme"]["win_rate"] == pytest.approx(1 / 3)
    assert comp["Globex"]["lost"] == 1


def test_last_messages_before_loss(frames) -> None:
    deals, messages = frames
    out = win_loss_analysis(deals, messages, EngineSettings())
    last = {r["template_id"]: r for r in out["last_messages_before_loss"]}
    # Lost deals end on C (D3, D4), B (D5: its C came after close) and A (D6).
    assert last["C"]["lost_last"] == 2
    assert last["C"]["won_last"] == 1
    assert last["B"]["lost_last"] == 1
    assert last["B"]["won_last"] == 1
    assert last["A"]["lost_last"] == 1
    assert last["A"]["won_last"] == 1
    assert last["C"]["share_of_losses"] == pytest.approx(0.5)


def test_objections_and_whether_they_were_resolved(frames) -> None:
    deals, messages = frames
    out = win_loss_analysis(deals, messages, EngineSettings())
    obj = {r["category"]: r for r in out["objections"]}
    assert (obj["price"]["deals"], obj["price"]["resolved"]) == (2, 1)  # D1 won, D3 lost; D8 open
    assert obj["price"]["resolution_rate"] == pytest.approx(0.5)
    assert (obj["timing"]["deals"], obj["timing"]["resolved"]) == (2, 0)
    assert (obj["competitor"]["deals"], obj["competitor"]["resolved"]) == (1, 1)


def test_sequence_completion_and_engagement(frames) -> None:
    deals, messages = frames
    out = win_loss_analysis(deals, messages, EngineSettings())
    seqs = {r["sequence_id"]: r for r in out["sequences"]}
    s1 = seqs["S1"]
    assert s1["deals"] == 6
    assert s1["steps"] == 3
    assert s1["completion_rate"] == pytest.approx(1 / 6)  # only D7 reached step 3
    assert s1["open_rate"] == pytest.approx(1.0)
    assert s1["reply_rate"] == pytest.approx(4 / 12)
    assert seqs["S2"]["deals"] == 1


@pytest.mark.parametrize(
    ("deals", "status"),
    [
        pytest.param(pd.DataFrame(columns=["deal_id", "outcome"]), "no_data", id="empty"),
        pytest.param(pd.DataFrame([_deal(1, "open")]), "no_data", id="nothing-closed"),
        pytest.param(pd.DataFrame([_deal(1, "won"), _deal(2, "won")]), "insufficient_data", id="all-won"),
    ],
)
def test_thin_data_gives_status_codes(deals: pd.DataFrame, status: str) -> None:
    messages = pd.DataFrame(
        columns=["deal_id", "template_id", "sequence_id", "position", "sent_at", "objections"]
    )
    for column in ("closed_at", "loss_reason", "competitor", "stage_lost"):
        if column not in deals:
            deals[column] = None
    out = win_loss_analysis(deals, messages, EngineSettings())
    assert out["data_status"] == status
