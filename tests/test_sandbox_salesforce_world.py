"""The sandbox org over a generated world: what SOQL shows agrees with the world's own frames, including
the joins the connector relies on (step tracker → cadence step → template; tracker → opportunity)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from simple_salesforce.api import Salesforce

from feedbackloop.sandbox.salesforce import start_salesforce, trusting_session
from feedbackloop.sandbox.salesforce.server import SalesforceServer
from feedbackloop.sandbox.world import World, WorldConfig, generate_world
from tests.test_sandbox_salesforce_fixtures import sf_id

BATCH = {"Sforce-Query-Options": "batchSize=2000"}


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(WorldConfig(seed=5, deals=300, templates=12, owners=4))


@pytest.fixture(scope="module")
def server(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SalesforceServer]:
    running = start_salesforce(world, tmp_path_factory.mktemp("sf-world"))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def sf(server: SalesforceServer) -> Any:
    session = trusting_session(server.ca_file)
    return Salesforce(instance_url=server.url, session_id="sandbox-token", version="60.0", session=session)


def test_stages_classify_outcomes_like_the_world(sf: Any, world: World) -> None:
    stages = {
        r["MasterLabel"]: r
        for r in sf.query_all("SELECT MasterLabel, IsClosed, IsWon FROM OpportunityStage")["records"]
    }
    for row in world.stages_frame().itertuples():
        assert stages[row.label]["IsClosed"] == bool(row.is_closed)
        assert stages[row.label]["IsWon"] == bool(row.is_won)
    deals = world.deals_frame()
    won = sf.query("SELECT COUNT() FROM Opportunity WHERE IsClosed = true AND IsWon = true")["totalSize"]
    lost = sf.query("SELECT COUNT() FROM Opportunity WHERE IsClosed = true AND IsWon = false")["totalSize"]
    assert won == int((deals["outcome"] == "won").sum())
    assert lost == int((deals["outcome"] == "lost").sum())


def test_emails_and_replies(sf: Any, world: World) -> None:
    messages, replies = world.messages_frame(), world.replies_frame()
    outbound = list(
        sf.query_all_iter(
            "SELECT Id, EmailTemplateId FROM EmailMessage WHERE Incoming = false", headers=BATCH
        )
    )
    assert len(outbound) == len(messages)
    with_template = sum(r["EmailTemplateId"] is not None for r in outbound)
    assert 0.15 < with_template / int(messages["template_id"].notna().sum()) < 0.45  # "often empty"
    incoming = sf.query("SELECT COUNT() FROM EmailMessage WHERE Incoming = true")["totalSize"]
    assert incoming == len(replies)


def test_step_trackers_lead_to_the_template_each_email_used(sf: Any, world: World) -> None:
    soql = (
        "SELECT Id, ActionCadenceStep.TemplateId, ActionCadenceTracker.RelatedToId "
        "FROM ActionCadenceStepTracker "
        "WHERE StepType IN ('SendAnEmail', 'AutoSendAnEmail')"
    )
    trackers = {r["Id"]: r for r in sf.query_all_iter(soql, headers=BATCH)}
    emails = sf.query_all_iter(
        "SELECT ActionCadenceStepTrackerId, RelatedToId, Id FROM EmailMessage WHERE "
        "ActionCadenceStepTrackerId != null",
        headers=BATCH,
    )
    frame = world.messages_frame()
    in_cadence = frame[frame["sequence_id"].notna() & frame["position"].notna()]
    expected = {
        sf_id("EmailMessage", str(m.message_id)): (str(m.template_id), str(m.deal_id))
        for m in in_cadence.itertuples()
    }
    seen = 0
    for email in emails:
        tracker = trackers[email["ActionCadenceStepTrackerId"]]
        template, deal = expected[email["Id"]]
        assert tracker["ActionCadenceStep"]["TemplateId"] == sf_id("EmailTemplate", template)
        assert (
            tracker["ActionCadenceTracker"]["RelatedToId"]
            == email["RelatedToId"]
            == sf_id("Opportunity", deal)
        )
        seen += 1
    assert seen == len(expected)
    assert seen > 0


def test_queries_stay_consistent_while_the_world_advances(server: SalesforceServer) -> None:
    errors: list[BaseException] = []

    def reader() -> None:
        client = Salesforce(
            instance_url=server.url,
            session_id="sandbox-token",
            version="60.0",
            session=trusting_session(server.ca_file),
        )
        try:
            for _ in range(15):
                total = client.query("SELECT COUNT() FROM Opportunity")["totalSize"]
                closed = client.query("SELECT COUNT() FROM Opportunity WHERE IsClosed = true")["totalSize"]
                assert 0 < closed <= total
        except BaseException as exc:  # collected for the main thread
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for thread in threads:
        thread.start()
    http = trusting_session(server.ca_file)
    for _ in range(3):
        assert http.post(f"{server.url}/_sandbox/advance", json={"days": 1}, timeout=30).status_code == 200
    for thread in threads:
        thread.join(timeout=60)
    http.post(f"{server.url}/_sandbox/reset", timeout=30)
    assert errors == []


def test_advancing_closes_deals_that_queries_then_see(
    sf: Any, server: SalesforceServer, world: World
) -> None:
    http = trusting_session(server.ca_file)
    before = sf.query("SELECT COUNT() FROM Opportunity WHERE IsClosed = true")["totalSize"]
    summary = http.post(f"{server.url}/_sandbox/advance", json={"days": 20}, timeout=30).json()
    after = sf.query("SELECT COUNT() FROM Opportunity WHERE IsClosed = true")["totalSize"]
    assert summary["closed_deals"] > 0
    assert after - before == summary["closed_deals"]
    recent = sf.query("SELECT COUNT() FROM Opportunity WHERE IsClosed = true AND CloseDate = LAST_N_DAYS:20")
    assert recent["totalSize"] >= summary["closed_deals"]
    http.post(f"{server.url}/_sandbox/reset", timeout=30)
    assert sf.query("SELECT COUNT() FROM Opportunity WHERE IsClosed = true")["totalSize"] == before
