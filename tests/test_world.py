"""The simulated world: deterministic, internally consistent, time-aware, exportable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from feedbackloop.errors import UsageError
from feedbackloop.sandbox.world import World, WorldConfig, generate_world


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(WorldConfig(seed=7, deals=1500))


def test_same_seed_same_world() -> None:
    a, b = generate_world(WorldConfig(seed=3, deals=300)), generate_world(WorldConfig(seed=3, deals=300))
    pd.testing.assert_frame_equal(a.deals_frame(), b.deals_frame())
    pd.testing.assert_frame_equal(a.messages_frame(), b.messages_frame())
    assert a.truth == b.truth
    c = generate_world(WorldConfig(seed=4, deals=300))
    assert not c.deals_frame()["outcome"].equals(a.deals_frame()["outcome"])


def test_frames_only_show_the_past(world: World) -> None:
    now = pd.Timestamp(world.now)
    deals, messages = world.deals_frame(), world.messages_frame()
    assert len(deals) == 1500
    assert (deals["created_at"] <= now).all()
    assert (messages["sent_at"] <= now).all()
    assert (world.replies_frame()["sent_at"] <= now).all()
    closed = deals[deals["outcome"] != "open"]
    assert (closed["closed_at"] <= now).all()
    assert deals.loc[deals["outcome"] == "open", "closed_at"].isna().all()
    assert set(deals["outcome"]) == {"won", "lost", "open"}


def test_relations_hold(world: World) -> None:
    deals, messages = world.deals_frame(), world.messages_frame()
    assert messages["deal_id"].isin(deals["deal_id"]).all()
    assert deals["deal_id"].is_unique
    assert messages["message_id"].is_unique
    templated = messages.dropna(subset=["template_id"])
    steps = world.sequences_frame().set_index(["sequence_id", "template_id"])["position"]
    looked_up = steps.reindex(pd.MultiIndex.from_frame(templated[["sequence_id", "template_id"]])).to_numpy()
    assert (looked_up == templated["position"].to_numpy()).all()
    assert messages.loc[messages["template_id"].isna(), "sequence_id"].isna().all()
    replies = world.replies_frame()
    assert replies["in_reply_to"].isin(messages.loc[messages["replied"], "message_id"]).all()
    lost = deals[deals["outcome"] == "lost"]
    assert lost["loss_reason"].notna().all()
    assert lost["stage_lost"].notna().all()
    assert deals.loc[deals["outcome"] == "won", "loss_reason"].isna().all()


def test_a_reply_ends_the_enrolment(world: World) -> None:
    m = world.messages_frame().dropna(subset=["template_id"])
    first_reply = m[m["replied"]].groupby("deal_id")["position"].min()
    last_step = m.groupby("deal_id")["position"].max()
    assert (last_step.loc[first_reply.index] == first_reply).all()


def test_truth_is_centred_per_step_and_marks_declines(world: World) -> None:
    truth = world.truth
    templates = world._t.templates.set_index("template_id")
    by_step = pd.Series(truth.effects).groupby(templates["position"]).mean()
    assert by_step.abs().max() < 1e-9
    assert sum(truth.declining.values()) == world.config.declining
    for tid, when in truth.decline_at.items():
        assert (when is not None) == truth.declining[tid]
        if when is not None:
            assert world.now - timedelta(days=52) <= when <= world.now - timedelta(days=40)


def test_advance_reveals_closes_and_truth_counts_follow() -> None:
    w = generate_world(WorldConfig(seed=2, deals=500))
    before = w.truth_summary()
    step = w.advance(10)
    after = w.truth_summary()
    closed_now = after["deals"]["won"] + after["deals"]["lost"]
    assert closed_now == before["deals"]["won"] + before["deals"]["lost"] + len(step.closed_deal_ids)
    assert set(step.closed_deal_ids) <= set(step.changed_deal_ids)
    assert after["emails"] >= before["emails"]
    w.reset()
    assert w.truth_summary() == before
    with pytest.raises(UsageError, match="ends at"):
        w.advance(10_000)


def test_csv_export_follows_the_public_format(world: World, tmp_path: Path) -> None:
    paths = world.to_csv(tmp_path)
    deals = pd.read_csv(paths["deals"], dtype=str)
    messages = pd.read_csv(paths["messages"], dtype=str)
    assert list(deals.columns[:2]) == ["deal_id", "outcome"]
    assert {"message_id", "deal_id", "template_id", "sent_at", "opened", "replied"} <= set(messages.columns)
    assert deals["closed_at"].dropna().str.endswith("Z").all()
    assert set(messages["opened"]) <= {"0", "1"}
    assert len(messages) == len(world.messages_frame())
