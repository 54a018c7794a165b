"""Install, write-back and check against the HubSpot sandbox, read back through the API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot

from feedbackloop.config.settings import Settings
from feedbackloop.connectors.base import DealWriteBack, TemplateScoreRecord, WriteBackPlan
from feedbackloop.connectors.hubspot.install import DEAL_WRITE_PROPERTIES, TEMPLATE_OBJECT
from feedbackloop.connectors.sync import run_sync
from feedbackloop.store import Store
from tests.test_hubspot_support import Portal, connect, sandbox


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: these tests are about the HubSpot API; the contract and resume tests cover PostgreSQL."""
    return f"sqlite:///{tmp_path / 'store.db'}"


SCORED_AT = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


def _sdk(portal: Portal) -> HubSpot:
    return HubSpot(access_token=portal.handle.token, host=portal.url)


def _read_deals(portal: Portal, ids: list[str]) -> dict[str, dict[str, Any]]:
    api = _sdk(portal).crm.deals.batch_api
    body = {"inputs": [{"id": i} for i in ids], "properties": [*DEAL_WRITE_PROPERTIES, "hs_lastmodifieddate"]}
    response = api.read(batch_read_input_simple_public_object_id=body)
    return {r.id: r.properties for r in response.results}


def _plan(deal_ids: list[str], templates: list[TemplateScoreRecord] | None = None) -> WriteBackPlan:
    deals = [
        DealWriteBack(d, f"Step 1 · ROI: +0.{i % 10}0 (active)", "Old opener" if i % 2 else "", None, None)
        for i, d in enumerate(deal_ids)
    ]
    return WriteBackPlan(scored_at=SCORED_AT, templates=templates or [], deals=deals)


def test_install_on_a_professional_portal_skips_the_custom_object(settings: Settings, store: Store) -> None:
    with sandbox(deals=100) as portal:
        _, connector = connect(settings, store, portal)
        first = connector.install()
        second = connector.install()
    assert set(first.created) == {"deals.group:feedbackloop", *(f"deals.{p}" for p in DEAL_WRITE_PROPERTIES)}
    assert f"custom_object:{TEMPLATE_OBJECT}" in first.skipped
    assert "Enterprise" in first.skipped[f"custom_object:{TEMPLATE_OBJECT}"]
    assert second.created == []
    assert set(second.existing) == set(first.created)


def test_write_back_lands_on_deals_and_template_records(settings: Settings, store: Store) -> None:
    with sandbox(deals=400, enterprise=True) as portal:
        tenant, connector = connect(settings, store, portal)
        run_sync(store, tenant, connector)
        report = connector.install()
        assert f"custom_object:{TEMPLATE_OBJECT}" in report.created
        deal_ids = sorted(store.deals_frame(tenant)["deal_id"].astype(str))[:250]
        templates = [
            TemplateScoreRecord(
                "300001", "Step 1 · pain point #01", 0.42, 0.1, 0.35, 0.3, 0.4, "promoted", 120
            ),
            TemplateScoreRecord(
                "300002", "Step 2 · case study #02", -0.3, 0.1, 0.2, 0.15, 0.25, "deprecated", 80
            ),
        ]
        before = connector.api_calls
        result = connector.write_back(_plan(deal_ids, templates))
        written = _read_deals(portal, deal_ids[:100])
        objects = _sdk(portal).crm.objects.basic_api.get_page(
            object_type=connector.conf["template_object"],
            properties=["fl_template_id", "fl_score", "fl_status"],
        )
        again = connector.write_back(_plan(deal_ids[:1], templates[:1]))  # upsert: no duplicate record
        objects_again = _sdk(portal).crm.objects.basic_api.get_page(
            object_type=connector.conf["template_object"]
        )
    assert result.failures == []
    assert result.updated == 252
    assert result.api_calls == connector.api_calls - before - again.api_calls
    assert result.api_calls == 3 + 1  # 250 deals in batches of 100, 2 templates in one upsert
    assert written[deal_ids[1]]["fl_template_scores"] == "Step 1 · ROI: +0.10 (active)"
    assert written[deal_ids[1]]["fl_deprecated_templates_used"] == "Old opener"
    assert written[deal_ids[0]]["fl_last_scored_at"] is not None
    by_template = {o.properties["fl_template_id"]: o.properties for o in objects.results}
    assert by_template["300001"]["fl_status"] == "promoted"
    assert float(by_template["300002"]["fl_score"]) == pytest.approx(-0.3)
    assert len(objects_again.results) == 2


def test_per_record_failures_are_retried_and_reported(settings: Settings, store: Store) -> None:
    with sandbox(deals=200) as portal:
        tenant, connector = connect(settings, store, portal)
        run_sync(store, tenant, connector)
        deal_ids = sorted(store.deals_frame(tenant)["deal_id"].astype(str))[:5]
        before_install = connector.write_back(_plan(deal_ids[:2]))  # our properties do not exist yet
        connector.install()
        report = connector.write_back(_plan([*deal_ids, "1", "2"]))
        nan = connector.write_back(
            WriteBackPlan(scored_at=SCORED_AT, deals=[DealWriteBack(deal_ids[0], "x", "", "T", float("nan"))])
        )
        written = _read_deals(portal, deal_ids[:1])
    assert before_install.updated == 0
    assert sorted(f.record_id for f in before_install.failures) == sorted(deal_ids[:2])
    assert all("fl_" in f.reason for f in before_install.failures)
    assert report.updated == 5
    assert report.failed == 2
    assert sorted(f.record_id for f in report.failures) == ["1", "2"]
    assert all(f.kind == "deal" for f in report.failures)
    assert report.api_calls == 2  # one batch, then one retry of the two failures
    assert nan.failures == []
    assert written[deal_ids[0]]["fl_recommended_score"] in (None, "")


def test_our_write_backs_do_not_make_the_next_sync_refetch(settings: Settings, store: Store) -> None:
    with sandbox(deals=400) as portal:
        tenant, connector = connect(settings, store, portal)
        run_sync(store, tenant, connector)
        connector.install()
        deal_ids = sorted(store.deals_frame(tenant)["deal_id"].astype(str))
        connector.write_back(_plan(deal_ids))
        # a human edits one deal after our write: that one must come back
        edited = deal_ids[0]
        _sdk(portal).crm.deals.basic_api.update(
            deal_id=edited, simple_public_object_input={"properties": {"amount": "1234.5"}}
        )
        after = run_sync(store, tenant, connector)
        calls = dict(connector.client.calls_by_kind)
        quiet = run_sync(store, tenant, connector)  # the burst of our writes is in the look-back window
    assert after.deals == 1
    assert quiet.deals == 0
    assert quiet.api_calls <= 3
    stored = store.deals_frame(tenant).set_index("deal_id")
    assert stored.loc[edited, "amount"] == pytest.approx(1234.5)
    assert calls.get("associations deals→emails", 0) == 1 + 1  # the first sync and the edited deal


def test_check_says_what_missing_email_properties_cost(settings: Settings, store: Store) -> None:
    with sandbox(
        deals=150, missing_email_properties=("hs_email_reply_count", "hs_email_open_count")
    ) as portal:
        tenant, connector = connect(settings, store, portal)
        report = connector.check()
        run_sync(store, tenant, connector)
        world_messages = portal.handle.world.messages_frame()
    assert report.ok
    assert set(report.missing) >= {"hs_email_reply_count", "hs_email_open_count"}
    assert "threads only" in report.missing["hs_email_reply_count"]
    assert report.available["hs_template_id"] is True
    messages = store.messages_frame(tenant).set_index("message_id")
    assert messages["opened"].isna().all()
    truth = world_messages.assign(message_id=world_messages["message_id"].astype(str)).set_index("message_id")
    common = messages.index.intersection(truth.index)
    assert (messages.loc[common, "replied"].astype(bool) == truth.loc[common, "replied"].astype(bool)).all()


def test_check_fails_without_template_ids(settings: Settings, store: Store) -> None:
    with sandbox(deals=60, missing_email_properties=("hs_template_id",)) as portal:
        _, connector = connect(settings, store, portal)
        report = connector.check()
    assert not report.ok
    assert "template attribution" in report.missing["hs_template_id"]
    assert report.problems


def test_the_write_back_runner_recommends_next_templates_for_open_deals(
    settings: Settings, store: Store
) -> None:
    from feedbackloop.connectors.writeback import run_writeback

    with sandbox(deals=300, seed=9) as portal:
        tenant, connector = connect(settings, store, portal)
        run_sync(store, tenant, connector)
        connector.install()
        open_deals = list(connector.open_deals())
        templates = sorted(store.templates_frame(tenant)["template_id"].astype(str))
        result = {
            "schema_version": 1,
            "templates": [
                {"template_id": t, "name": f"T{t}", "score": (i % 7) / 10, "status": "active", "deals": 30}
                for i, t in enumerate(templates)
            ],
            "segments": {},
        }
        summary = run_writeback(store, tenant, connector, result)
        advised = [d.deal_id for d in open_deals if d.next_position and d.next_position <= 5]
        written = _read_deals(portal, advised[:50])
    world = portal.handle.world.deals_frame()
    assert len(open_deals) == int((world["outcome"] == "open").sum())
    assert all(d.segment in ("smb", "mid_market", "enterprise") for d in open_deals)
    assert summary.failed == 0
    assert advised
    assert all(w["fl_recommended_next_template"] for w in written.values())
    assert all(float(w["fl_recommended_score"]) >= 0 for w in written.values())
