"""The durable webhook inbox: events are stored idempotently before they are answered, then processed.

At-least-once: a claimed event whose worker dies is claimed again once its lease (``next_attempt_at``)
runs out. Idempotent: an event key that is already stored is a duplicate and changes nothing. Failures
are retried with capped exponential backoff; after ``max_attempts`` an event is ``dead``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from feedbackloop.store import Store, TenantRef, utcnow
from feedbackloop.store.models import InboxEvent

__all__ = ["ClaimedEvent", "Inbox", "NewEvent", "event_key"]

PENDING, DONE, DEAD = "pending", "done", "dead"
_TABLE = cast(sa.Table, InboxEvent.__table__)


def event_key(*parts: object) -> str:
    """A stable key for an event from the fields that identify it (never the delivery attempt)."""
    text = json.dumps([None if p is None else str(p) for p in parts], separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class NewEvent:
    """An event to store: its tenant, idempotency key and JSON payload."""

    tenant: TenantRef
    key: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class ClaimedEvent:
    """An event a worker holds for processing (until its lease runs out)."""

    id: int
    tenant_id: int
    provider: str
    payload: dict[str, Any]
    attempts: int


class Inbox:
    """The ``webhook_inbox`` table as a queue."""

    def __init__(
        self,
        store: Store,
        *,
        max_attempts: int = 8,
        base_delay: float = 2.0,
        max_delay: float = 600.0,
        lease: float = 120.0,
    ) -> None:
        self.store = store
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.lease = timedelta(seconds=lease)

    def add(self, provider: str, events: Sequence[NewEvent]) -> tuple[int, int]:
        """Store events in one transaction; returns (accepted, duplicates)."""
        if not events:
            return 0, 0
        now = utcnow()
        rows = {
            (e.tenant.id, e.key): {
                "tenant_id": e.tenant.id,
                "provider": provider,
                "event_key": e.key,
                "payload": e.payload,
                "status": PENDING,
                "attempts": 0,
                "received_at": now,
                "next_attempt_at": now,
            }
            for e in events
        }
        table = _TABLE
        with self.store.db.engine.begin() as conn:
            insert: Any = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            # executemany batched into multi-row INSERTs (SQLAlchemy "insertmanyvalues", a cached
            # compile); RETURNING lists only the rows really inserted, so duplicates are counted.
            stmt = (
                insert(table)
                .on_conflict_do_nothing(index_elements=["tenant_id", "provider", "event_key"])
                .returning(table.c.id)
            )
            accepted = len(conn.execute(stmt, list(rows.values())).all())
        return accepted, len(events) - accepted

    def claim(self, limit: int = 50, *, now: datetime | None = None) -> list[ClaimedEvent]:
        """Take due pending events, leasing them so that no other worker takes them meanwhile."""
        now = now or utcnow()
        table = _TABLE
        with self.store.db.engine.begin() as conn:
            query = (
                sa.select(table.c.id, table.c.tenant_id, table.c.provider, table.c.payload, table.c.attempts)
                .where(table.c.status == PENDING, table.c.next_attempt_at <= now)
                .order_by(table.c.next_attempt_at, table.c.id)
                .limit(limit)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            else:  # take SQLite's write lock first so two workers never claim the same rows
                conn.execute(sa.text("UPDATE webhook_inbox SET id = id WHERE 0"))
            rows = conn.execute(query).all()
            if rows:
                conn.execute(
                    sa.update(table)
                    .where(table.c.id.in_([r.id for r in rows]))
                    .values(next_attempt_at=now + self.lease)
                )
        return [ClaimedEvent(r.id, r.tenant_id, r.provider, dict(r.payload), r.attempts) for r in rows]

    def mark_done(self, conn: sa.Connection, event_id: int, note: str | None = None) -> None:
        """Mark an event done inside the caller's transaction (with the effects of processing it)."""
        conn.execute(
            sa.update(InboxEvent)
            .where(InboxEvent.id == event_id)
            .values(status=DONE, processed_at=utcnow(), last_error=note, attempts=InboxEvent.attempts + 1)
        )

    def mark_failed(self, event: ClaimedEvent, error: str) -> str:
        """Record a failure: retry later with backoff, or ``dead`` after ``max_attempts``."""
        attempts = event.attempts + 1
        delay = min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
        status = DEAD if attempts >= self.max_attempts else PENDING
        table = _TABLE
        with self.store.db.engine.begin() as conn:
            conn.execute(
                sa.update(table)
                .where(table.c.id == event.id)
                .values(
                    status=status,
                    attempts=attempts,
                    last_error=error[:2000],
                    next_attempt_at=utcnow() + timedelta(seconds=delay),
                )
            )
        return status

    def counts(self) -> dict[str, int]:
        """Number of events per status."""
        table = _TABLE
        with self.store.db.engine.connect() as conn:
            rows = conn.execute(sa.select(table.c.status, sa.func.count()).group_by(table.c.status)).all()
        out = {PENDING: 0, DONE: 0, DEAD: 0}
        out.update({str(status): int(n) for status, n in rows})
        return out
