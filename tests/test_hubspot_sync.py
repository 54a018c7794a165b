"""HubSpot sync against the sandbox over real HTTP: exactness vs the world, call budget, limits, faults.

The world is the truth: deals and messages stored must equal the world's closed deals and their
outbound emails, field by field, with templates, positions and engagement.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from feedbackloop.config.settings import Settings
from feedbackloop.connectors.hubspot.streams import STREAM
from feedbackloop.connectors.sync import load_sync_state, run_sync
from feedbackloop.store import Store
from feedbackloop.store.models import DealRow, MessageRow
from tests.test_hubspot_support import connect, sandbox, stored_state


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the HubSpot API; the contract and resume tests cover PostgreSQL."""
    return f"sqlite:///{tmp_path / 'store.db'}"


def _values(series: pd.Series) -> list[object]:
    return [None if pd.isna(v) else str(v) for v in series]


def _categories(series: pd.Series) -> list[frozenset[str]]:
    return [frozenset() if pd.isna(v) or v == "" else frozenset(str(v).split(",")) for v in series]


def _world_closed(world: object) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    deals = world.deals_frame()  # type: ignore[attr-defined]
    closed = deals[deals["outcome"].isin(["won", "lost"])]
    messages = world.messages_frame()  # type: ignore[attr-defined]
    replies = world.replies_frame()  # type: ignore[attr-defined]
    ids = set(closed["deal_id"].astype(str))
    return (
        closed,
        messages[messages["deal_id"].astype(str).isin(ids)],
        replies[replies["deal_id"].astype(str).isin(ids)],
    )


def test_default_world_full_sync_matches_the_world_within_the_call_budget(
    settings: Settings, store: Store
) -> None:
    with sandbox(deals=2000, seed=1) as portal:  # the sandbox's default world
        tenant, connector = connect(settings, store, portal)
        summary = run_sync(store, tenant, connector)
        world = portal.handle.world
        closed, messages, replies = _world_closed(world)
        truth = portal.get("truth")
        stats = portal.get("stats")

    # exactly the closed deals and their emails, as /_sandbox/truth reports them
    assert store.count(DealRow, tenant) == truth["deals"]["won"] + truth["deals"]["lost"] == len(closed)
    assert store.count(MessageRow, tenant) == truth["emails"] == len(messages)
    assert summary.skipped == []

    deals, stored = stored_state(store, tenant)
    want = closed.assign(deal_id=closed["deal_id"].astype(str)).set_index("deal_id").sort_index()
    got = deals.set_index("deal_id").sort_index()
    assert list(got.index) == list(want.index)
    for column in ("outcome", "segment", "industry", "loss_reason", "competitor", "stage_lost"):
        assert _values(got[column]) == _values(want[column]), column
    assert (got["amount"] - want["amount"]).abs().max() < 0.01
    assert (got["closed_at"] - want["closed_at"]).abs().max() < pd.Timedelta(seconds=1)

    m = messages.assign(message_id=messages["message_id"].astype(str)).set_index("message_id").sort_index()
    s = stored.set_index("message_id").sort_index()
    assert list(s.index) == list(m.index)
    assert (s["deal_id"] == m["deal_id"].astype(str)).all()
    assert (s["template_id"].fillna("") == m["template_id"].fillna("").astype(str)).all()
    assert (s["position"].fillna(0).astype(int) == m["position"].fillna(0).astype(int)).all()
    for flag in ("opened", "clicked", "replied"):
        assert (s[flag].astype(bool) == m[flag].astype(bool)).all(), flag
    assert (s["contact_id"] == m["contact_id"].astype(str)).all()
    assert (s["sequence_id"].fillna("") == m["sequence_id"].fillna("").astype(str)).all()
    assert _values(got["sequence_id"]) == _values(want["sequence_id"])
    names = store.templates_frame(tenant).set_index("template_id")["name"].to_dict()
    world_names = world.templates_frame().set_index("template_id")["name"].to_dict()
    assert names == {str(k): v for k, v in world_names.items()}
    # reply features: every replied email carries a sentiment whose sign mostly agrees with the world's
    replied = m["replied"].astype(bool)
    assert s.loc[replied, "response_sentiment"].notna().all()
    strong = replied & (m["response_sentiment"].abs() > 0.3)
    agree = (s.loc[strong, "response_sentiment"] * m.loc[strong, "response_sentiment"] >= 0).mean()
    assert agree > 0.8
    # objection categories from the reply texts (insights' find_objections) are the world's own
    assert _categories(s.loc[replied, "objections"]) == _categories(m.loc[replied, "objections"])

    # call budget: ≤ 1.1 × what the batch limits imply, and no 429 from the sandbox
    n_deals, n_emails = len(closed), len(messages) + len(replies)
    n_companies = closed["company_id"].nunique()
    n_sequences = messages["sequence_id"].dropna().nunique()
    implied = (
        math.ceil(n_deals / 200)  # search pages
        + 3 * math.ceil(n_deals / 1000)  # associations: emails, contacts, companies
        + math.ceil(n_emails / 100)  # email batch reads
        + math.ceil(n_companies / 100)  # company batch reads
        + n_sequences  # one definition per sequence
        + 4  # email properties, pipelines, owners, templates
    )
    assert summary.api_calls <= 1.1 * implied, (summary.api_calls, implied)
    assert stats["rate_limited"] == 0


def test_second_sync_and_advance_fetch_only_what_changed(settings: Settings, store: Store) -> None:
    with sandbox(deals=500, seed=4) as portal:
        tenant, connector = connect(settings, store, portal)
        run_sync(store, tenant, connector)
        second = run_sync(store, tenant, connector)
        assert second.api_calls <= 3
        step = portal.post("advance", {"days": 5})
        after = run_sync(store, tenant, connector)
        closed, messages, _ = _world_closed(portal.handle.world)
    assert step["closed_deals"] > 0
    assert 0 < after.deals <= step["changed_deals"]
    assert store.count(DealRow, tenant) == len(closed)
    assert store.count(MessageRow, tenant) == len(messages)
    stored = store.messages_frame(tenant).set_index("message_id").sort_index()
    world = (
        messages.assign(message_id=messages["message_id"].astype(str)).set_index("message_id").sort_index()
    )
    for flag in ("opened", "clicked", "replied"):
        assert (stored[flag].astype(bool) == world.loc[stored.index, flag].astype(bool)).all(), flag


def test_sync_stays_under_the_rate_limits(settings: Settings, store: Store) -> None:
    limits = {"burst_limit": 25, "burst_window_seconds": 1.0, "search_limit": 2, "search_window_seconds": 0.5}
    with sandbox(deals=250, seed=5, **limits) as portal:
        tenant, connector = connect(
            settings,
            store,
            portal,
            limits={"burst": 25, "burst_period": 1.0, "search": 2, "search_period": 0.5, "margin": 0.02},
            batch_deals=100,
        )
        summary = run_sync(store, tenant, connector)
        stats = portal.get("stats")
    assert summary.api_calls > 50  # enough calls that the windows matter
    assert stats["rate_limited"] == 0
    assert connector.client.burst.waited > 0


def test_faults_do_not_change_the_stored_state(settings: Settings, store: Store) -> None:
    with sandbox(deals=300, seed=6) as portal:
        clean_tenant, clean = connect(settings, store, portal, "clean")
        run_sync(store, clean_tenant, clean)
        portal.post("faults", {"rate": 0.1, "slow_seconds": 1.5})
        tenant, faulty = connect(
            settings,
            store,
            portal,
            "faulty",
            retry={
                "wait_scale": 0.01,
                "base_delay": 0.01,
                "max_delay": 0.2,
                "timeout": 0.5,
                "max_attempts": 8,
            },
        )
        run_sync(store, tenant, faulty)
        injected = portal.get("faults")["injected"]
    assert sum(injected.values()) > 5
    clean_deals, clean_messages = stored_state(store, clean_tenant)
    deals, messages = stored_state(store, tenant)
    pd.testing.assert_frame_equal(deals, clean_deals)
    pd.testing.assert_frame_equal(messages, clean_messages)


def test_a_window_past_the_search_cap_syncs_completely(settings: Settings, store: Store) -> None:
    """Keyset windows: with a cap of 400 results per query, 1,500+ closed deals still all arrive."""
    with sandbox(deals=2000, seed=7, search_result_cap=400) as portal:
        tenant, connector = connect(settings, store, portal, batch_deals=300)
        run_sync(store, tenant, connector)
        closed, messages, _ = _world_closed(portal.handle.world)
    assert len(closed) > 1000
    assert store.count(DealRow, tenant) == len(closed)
    assert store.count(MessageRow, tenant) == len(messages)
    assert load_sync_state(store, tenant).get(STREAM)["cursor_ms"] is not None


@pytest.mark.slow
def test_a_world_larger_than_the_10000_result_cap_syncs_completely(settings: Settings, store: Store) -> None:
    with sandbox(deals=14_500, seed=2, steps=1, templates=10) as portal:
        tenant, connector = connect(settings, store, portal)
        run_sync(store, tenant, connector)
        truth = portal.get("truth")
    closed = truth["deals"]["won"] + truth["deals"]["lost"]
    assert closed > 12_000
    assert store.count(DealRow, tenant) == closed
    assert store.count(MessageRow, tenant) == truth["emails"]


def test_stage_history_is_read_per_lost_deal_when_the_search_body_would_be_too_long(
    settings: Settings, store: Store
) -> None:
    with sandbox(deals=300, seed=10) as portal:
        tenant, connector = connect(settings, store, portal, search_property_chars=10)
        run_sync(store, tenant, connector)
        closed, _, _ = _world_closed(portal.handle.world)
    assert connector.client.calls_by_kind["deals batch read"] >= 1
    got = store.deals_frame(tenant).set_index("deal_id").sort_index()
    want = closed.assign(deal_id=closed["deal_id"].astype(str)).set_index("deal_id").sort_index()
    assert _values(got["stage_lost"]) == _values(want["stage_lost"])
