"""The inbox worker: closed deals applied once, retries with backoff, dead letters, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import DealRow, InboxEvent, OptimizerStateRow
from feedbackloop.store.service_models import AnalysisRequest, OutcomeLedgerRow
from feedbackloop.webhooks.inbox import ClaimedEvent, Inbox, NewEvent, event_key
from feedbackloop.webhooks.worker import InboxWorker, StoreOutcomes

pytestmark = pytest.mark.store

ROOT = Path(__file__).resolve().parents[1]


def hub_event(tenant: TenantRef, deal: int, n: int = 0) -> NewEvent:
    payload = {"objectId": deal, "propertyName": "dealstage", "propertyValue": f"v{n}", "portalId": 1}
    return NewEvent(tenant, event_key(deal, n), payload)


class Recorder(StoreOutcomes):
    def __init__(self, store: Store, fail_times: int = 0) -> None:
        super().__init__(store)
        self.applied: list[tuple[str, str]] = []
        self.prepared = 0
        self.fail_times = fail_times

    def prepare(self, tenant: TenantRef, events: list[ClaimedEvent]) -> None:
        self.prepared += 1
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("CRM unavailable")

    def apply(self, conn: Any, tenant: TenantRef, deal_id: str, outcome: str) -> None:
        self.applied.append((deal_id, outcome))


@pytest.fixture
def tenant(store: Store) -> TenantRef:
    t = store.create_tenant("hub", provider="hubspot", external_id="1")
    store.upsert(
        DealRow,
        t,
        [
            {"deal_id": "1", "outcome": "won"},
            {"deal_id": "2", "outcome": "lost"},
            {"deal_id": "3", "outcome": "open"},
        ],
    )
    return t


def statuses(store: Store) -> dict[str, int]:
    return Inbox(store).counts()


def test_closed_deals_are_applied_once_and_open_ones_skipped(store, tenant):
    inbox = Inbox(store)
    # Two stage changes of deal 1 (one outcome), deal 2 lost, deal 3 still open.
    inbox.add(
        "hubspot",
        [hub_event(tenant, 1, 0), hub_event(tenant, 1, 1), hub_event(tenant, 2), hub_event(tenant, 3)],
    )
    handler = Recorder(store)
    worker = InboxWorker(store, handler, inbox=inbox)
    assert worker.run_once() == 4
    assert sorted(handler.applied) == [("1", "won"), ("2", "lost")]
    assert statuses(store) == {"pending": 0, "done": 4, "dead": 0}
    assert store.count(OutcomeLedgerRow, tenant) == 2
    assert store.count(AnalysisRequest, tenant) == 1  # one debounced re-analysis for the tenant
    # The same event delivered again later (a new inbox row with another key) changes nothing.
    inbox.add("hubspot", [hub_event(tenant, 1, 2)])
    worker.run_once()
    assert len(handler.applied) == 2


def test_failures_retry_with_backoff_then_dead_letter(store, tenant):
    inbox = Inbox(store, max_attempts=3, base_delay=0.0)
    inbox.add("hubspot", [hub_event(tenant, 1)])
    handler = Recorder(store, fail_times=2)
    worker = InboxWorker(store, handler, inbox=inbox)
    worker.run_once()
    worker.run_once()
    assert statuses(store)["pending"] == 1
    worker.run_once()  # third attempt succeeds
    assert statuses(store) == {"pending": 0, "done": 1, "dead": 0}
    inbox.add("hubspot", [hub_event(tenant, 2)])
    handler.fail_times = 5
    for _ in range(4):
        worker.run_once()
    assert statuses(store)["dead"] == 1
    with store.db.session() as s:
        dead = s.scalar(sa.select(InboxEvent).where(InboxEvent.status == "dead"))
        assert dead is not None
        assert "CRM unavailable" in (dead.last_error or "")
        assert dead.attempts == 3


def test_backoff_delays_grow(store, tenant):
    inbox = Inbox(store, base_delay=10.0, max_delay=25.0)
    inbox.add("hubspot", [hub_event(tenant, 1)])
    delays = []
    for _ in range(3):
        (event,) = inbox.claim(now=store_now() + timedelta(hours=1))
        before = store_now()
        inbox.mark_failed(event, "x")
        with store.db.session() as s:
            row = s.get(InboxEvent, event.id)
            assert row is not None
            assert row.next_attempt_at is not None
            due = row.next_attempt_at.replace(tzinfo=before.tzinfo)
        delays.append(round((due - before).total_seconds()))
    assert delays == [10, 20, 25]


def store_now() -> Any:
    from feedbackloop.store import utcnow

    return utcnow()


def test_a_claimed_event_is_not_claimed_twice_until_its_lease_ends(store, tenant):
    inbox = Inbox(store, lease=60)
    inbox.add("hubspot", [hub_event(tenant, 1)])
    assert len(inbox.claim()) == 1
    assert inbox.claim() == []
    assert len(inbox.claim(now=store_now() + timedelta(seconds=61))) == 1


def _counts(store: Store, tenant: TenantRef) -> dict[str, int]:
    with store.db.session() as s:
        rows = s.scalars(sa.select(OptimizerStateRow).where(OptimizerStateRow.tenant_id == tenant.id))
        return {r.name: int(str(r.state["n"])) for r in rows if r.name.startswith("count:")}


def _worker(url: str, slow: float) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.service_worker_proc", url, str(slow)], cwd=ROOT, env=env
    )


def test_sigkill_during_processing_then_restart_applies_each_event_once(database_url, store, tenant):
    n = 60
    Inbox(store).add("hubspot", [hub_event(tenant, 100 + i) for i in range(n)])
    proc = _worker(database_url, slow=0.05)
    deadline = time.monotonic() + 60
    while statuses(store)["done"] < n // 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_at_kill = statuses(store)["done"]
    assert 0 < done_at_kill < n
    proc = _worker(database_url, slow=0.0)
    try:
        while statuses(store)["done"] < n and time.monotonic() < deadline + 30:
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert statuses(store) == {"pending": 0, "done": n, "dead": 0}
    counts = _counts(store, tenant)
    assert len(counts) == n
    assert set(counts.values()) == {1}, "an outcome was applied twice or never"
    assert store.count(OutcomeLedgerRow, tenant) == n
