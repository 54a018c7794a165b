"""The inbox worker: at-least-once delivery, exactly-once effects.

For each claimed event the worker asks its handler which deal it concerns and whether that deal is now
closed (the handler may first fetch the tenant's changes, e.g. with an incremental sync). A closed deal's
outcome is applied ONCE: the ledger row (tenant, deal, outcome), the handler's effect (which runs on the
same connection), the debounced re-analysis request and the event's ``done`` status are one
transaction. A worker killed at any point leaves either all of it or none; the event's lease runs out,
another pass claims it again, and the ledger turns a second application into a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from feedbackloop.store import Store, TenantRef, utcnow
from feedbackloop.store.models import DealRow, Tenant
from feedbackloop.store.repo import _ref
from feedbackloop.store.service_models import AnalysisRequest, OutcomeLedgerRow, WorkerHeartbeat
from feedbackloop.webhooks.inbox import ClaimedEvent, Inbox
from feedbackloop.webhooks.metrics import ServiceMetrics

__all__ = ["CLOSED_OUTCOMES", "EventHandler", "InboxWorker", "StoreOutcomes", "deal_id_of"]

log = logging.getLogger(__name__)

CLOSED_OUTCOMES = frozenset({"won", "lost", "disqualified"})
_LEDGER = cast(sa.Table, OutcomeLedgerRow.__table__)
_REQUESTS = cast(sa.Table, AnalysisRequest.__table__)
_BEATS = cast(sa.Table, WorkerHeartbeat.__table__)


def deal_id_of(event: ClaimedEvent) -> str | None:
    """The CRM deal id an event is about (HubSpot ``objectId``, Salesforce ``deal_id``)."""
    raw = event.payload.get("objectId") if event.provider == "hubspot" else event.payload.get("deal_id")
    # Salesforce and reconcile events carry ``deal_id``.
    return None if raw is None else str(raw)


class EventHandler(Protocol):
    """What the worker does with a tenant's events; every method may raise to fail the events."""

    def prepare(self, tenant: TenantRef, events: list[ClaimedEvent]) -> None:
        """Fetch what the events point at (e.g. an incremental sync) before they are processed."""

    def outcome(self, tenant: TenantRef, deal_id: str) -> str | None:
        """The deal's closed outcome, or None when it is not (or not yet) closed."""

    def apply(self, conn: sa.Connection, tenant: TenantRef, deal_id: str, outcome: str) -> None:
        """Learn from the outcome, on ``conn`` (inside the ledger's transaction)."""


class StoreOutcomes:
    """A handler that reads outcomes from the store and learns nothing: the base of real handlers."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def prepare(self, tenant: TenantRef, events: list[ClaimedEvent]) -> None:
        del tenant, events

    def outcome(self, tenant: TenantRef, deal_id: str) -> str | None:
        with self.store.db.session() as s:
            deal = s.get(DealRow, (tenant.id, deal_id))
            return deal.outcome if deal is not None and deal.outcome in CLOSED_OUTCOMES else None

    def apply(self, conn: sa.Connection, tenant: TenantRef, deal_id: str, outcome: str) -> None:
        del conn, tenant, deal_id, outcome


class InboxWorker:
    """Claims inbox events in batches and processes them through an :class:`EventHandler`."""

    def __init__(
        self,
        store: Store,
        handler: EventHandler,
        *,
        inbox: Inbox | None = None,
        metrics: ServiceMetrics | None = None,
        debounce: timedelta = timedelta(seconds=60),
        batch: int = 100,
        name: str | None = None,
    ) -> None:
        self.store, self.handler = store, handler
        self.inbox = inbox or Inbox(store)
        self.metrics = metrics
        self.debounce, self.batch = debounce, batch
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"

    # -- one pass ----------------------------------------------------------------------------------
    def run_once(self) -> int:
        """Claim and process one batch; returns how many events were handled (done, retried or dead)."""
        events = self.inbox.claim(self.batch)
        if not events:
            return 0
        by_tenant: dict[int, list[ClaimedEvent]] = defaultdict(list)
        for event in events:
            by_tenant[event.tenant_id].append(event)
        tenants = self._tenants(set(by_tenant))
        for tenant_id, group in by_tenant.items():
            tenant = tenants.get(tenant_id)
            if tenant is None:  # the tenant was deleted meanwhile (its events cascade away)
                continue
            try:
                self.handler.prepare(tenant, group)
            except Exception as exc:
                for event in group:
                    self._fail(event, exc)
                continue
            try:  # reads first, then the whole group in one short write transaction
                decided = [(event, self._decide(tenant, event)) for event in group]
                with self.store.db.engine.begin() as conn:
                    for event, decision in decided:
                        self._process(conn, tenant, event, decision)
            except Exception:
                for event in group:  # isolate the failing event(s): one transaction each
                    try:
                        decision = self._decide(tenant, event)
                        with self.store.db.engine.begin() as conn:
                            self._process(conn, tenant, event, decision)
                    except Exception as exc:
                        self._fail(event, exc)
            else:
                if self.metrics is not None:
                    self.metrics.processed.inc(len(group))
        return len(events)

    def _decide(self, tenant: TenantRef, event: ClaimedEvent) -> tuple[str | None, str | None]:
        """The event's deal and its closed outcome (None while it is open), read before writing."""
        deal_id = deal_id_of(event)
        return deal_id, None if deal_id is None else self.handler.outcome(tenant, deal_id)

    def _process(
        self,
        conn: sa.Connection,
        tenant: TenantRef,
        event: ClaimedEvent,
        decision: tuple[str | None, str | None],
    ) -> None:
        """Apply one event on ``conn``: ledger row, effect, analysis request and ``done`` together."""
        deal_id, outcome = decision
        note: str | None = "not a closed deal"
        if deal_id is not None and outcome is not None:
            insert = _insert(conn)(_LEDGER).on_conflict_do_nothing(
                index_elements=["tenant_id", "deal_id", "outcome"]
            )
            row = {
                "tenant_id": tenant.id,
                "deal_id": deal_id,
                "outcome": outcome,
                "event_id": event.id,
                "applied_at": utcnow(),
            }
            if conn.execute(insert.returning(_LEDGER.c.deal_id), row).first() is not None:
                self.handler.apply(conn, tenant, deal_id, outcome)
                self._request_analysis(conn, tenant)
                note = None
            else:
                note = "outcome already applied"
        self.inbox.mark_done(conn, event.id, note)

    def _fail(self, event: ClaimedEvent, exc: Exception) -> None:
        message = f"{exc.__class__.__name__}: {exc}"
        status = self.inbox.mark_failed(event, message)
        log.warning("inbox event %s failed (%s): %s", event.id, status, message, exc_info=exc)
        if self.metrics is not None:
            self.metrics.failures.inc()
            if status == "dead":
                self.metrics.dead_letters.inc()

    def _request_analysis(self, conn: sa.Connection, tenant: TenantRef) -> None:
        """Debounce: every new outcome pushes the tenant's re-analysis ``debounce`` into the future."""
        now = utcnow()
        stmt = _insert(conn)(_REQUESTS)
        stmt = stmt.on_conflict_do_update(index_elements=["tenant_id"], set_={"due_at": stmt.excluded.due_at})
        conn.execute(stmt, {"tenant_id": tenant.id, "requested_at": now, "due_at": now + self.debounce})

    def _tenants(self, ids: set[int]) -> dict[int, TenantRef]:
        with self.store.db.session() as s:
            return {t.id: _ref(t) for t in s.scalars(sa.select(Tenant).where(Tenant.id.in_(ids)))}

    # -- the loop ----------------------------------------------------------------------------------
    def beat(self) -> None:
        with self.store.db.engine.begin() as conn:
            stmt = _insert(conn)(_BEATS)
            stmt = stmt.on_conflict_do_update(
                index_elements=["name"], set_={"beat_at": stmt.excluded.beat_at}
            )
            conn.execute(stmt, {"name": self.name, "beat_at": utcnow()})

    def run_forever(
        self, stop: threading.Event, *, idle: float = 0.2, on_error: Callable[[Exception], None] | None = None
    ) -> None:
        """Process until ``stop`` is set; sleeps ``idle`` seconds when the inbox is empty."""
        last_beat = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - last_beat > 5:
                    self.beat()
                    last_beat = time.monotonic()
                    if self.metrics is not None:
                        self.metrics.inbox_backlog.set(self.inbox.counts()["pending"])
                handled = self.run_once()
            except Exception as exc:  # the database went away: keep the loop alive and retry
                log.warning("inbox worker pass failed: %s", exc)
                if on_error is not None:
                    on_error(exc)
                handled = 0
            if not handled:
                stop.wait(idle)


def _insert(conn: sa.Connection) -> Callable[[sa.Table], Any]:
    """The dialect's INSERT with ON CONFLICT support."""
    insert: Callable[[sa.Table], Any] = (
        postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    )
    return insert
