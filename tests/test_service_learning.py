"""Closed deals reach the optimizer exactly once, on the worker's transaction."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import DealRow, MessageRow, TemplateRow
from feedbackloop.webhooks.handlers import SyncAndLearn
from feedbackloop.webhooks.inbox import ClaimedEvent, Inbox, NewEvent, event_key
from feedbackloop.webhooks.learning import OptimizerLearner, load_on
from feedbackloop.webhooks.worker import InboxWorker

pytestmark = pytest.mark.store

T0 = datetime(2026, 5, 1, tzinfo=UTC)


class NoSync(SyncAndLearn):
    def prepare(self, tenant: TenantRef, events: list[ClaimedEvent]) -> None:
        del tenant, events


def pseudo(store: Store, tenant: TenantRef) -> dict[str, float]:
    with store.db.engine.connect() as conn:
        optimizer = load_on(conn, tenant)
    assert optimizer is not None
    return {row["template_id"]: row["pseudo_deals"] for row in optimizer.summary()}


def _message(i: int, deal: str, template: str) -> dict[str, Any]:
    return {"message_id": f"m{i}", "deal_id": deal, "template_id": template, "position": 1, "sent_at": T0}


def test_outcome_learned_once_even_when_redelivered(settings, store: Store):
    tenant = store.create_tenant("hub", provider="hubspot", external_id="1")
    store.upsert(TemplateRow, tenant, [{"template_id": "A"}, {"template_id": "B"}])
    store.upsert(DealRow, tenant, [{"deal_id": "d0", "outcome": "lost", "closed_at": T0, "segment": "smb"}])
    store.upsert(MessageRow, tenant, [_message(0, "d0", "B")])
    handler = NoSync(settings, store, OptimizerLearner(store))
    worker = InboxWorker(store, handler)
    inbox = Inbox(store)

    # The first outcome builds the bandit from history (d0), then learns d1.
    store.upsert(DealRow, tenant, [{"deal_id": "d1", "outcome": "won", "closed_at": T0, "segment": "smb"}])
    store.upsert(MessageRow, tenant, [_message(1, "d1", "A"), _message(2, "d1", "B")])
    inbox.add("hubspot", [NewEvent(tenant, event_key("d1", 1), {"objectId": "d1"})])
    worker.run_once()
    first = pseudo(store, tenant)
    # A redelivery with another key and a reconcile event for the same deal change nothing.
    inbox.add("hubspot", [NewEvent(tenant, event_key("d1", 2), {"objectId": "d1"})])
    inbox.add("reconcile", [NewEvent(tenant, event_key("r", "d1"), {"deal_id": "d1"})])
    worker.run_once()
    assert pseudo(store, tenant) == first
    # A new deal with template A moves A by one pseudo-deal.
    store.upsert(DealRow, tenant, [{"deal_id": "d2", "outcome": "won", "closed_at": T0, "segment": "smb"}])
    store.upsert(MessageRow, tenant, [_message(3, "d2", "A")])
    inbox.add("salesforce", [NewEvent(tenant, event_key("d2"), {"deal_id": "d2"})])
    worker.run_once()
    after = pseudo(store, tenant)
    assert after["A"] == pytest.approx(first["A"] + 1, abs=1e-6)
    assert after["B"] == pytest.approx(first["B"], abs=1e-6)
    with store.db.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM outcome_ledger")).scalar() == 2
