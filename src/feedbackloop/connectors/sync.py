"""Running a connector's sync into the store: each batch and its cursor in one transaction.

A crash loses nothing and duplicates nothing: the cursor saved with a batch is the cursor after it,
and every write is an upsert by CRM id, so the next run resumes where the last committed batch ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from feedbackloop.connectors.base import Connector, SkippedRecord, SyncBatch, SyncState
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.rows import deal_row, message_row, template_row

__all__ = ["SYNC_STREAM", "SyncSummary", "load_sync_state", "run_sync", "store_batch"]

#: The sync_state key under which a connector's whole state dict is kept.
SYNC_STREAM = "connector"


@dataclass
class SyncSummary:
    """Totals of one sync run (``feedbackloop sync --format json``)."""

    deals: int = 0
    messages: int = 0
    templates: int = 0
    api_calls: int = 0
    duration_s: float = 0.0
    skipped: list[SkippedRecord] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "deals": self.deals,
            "messages": self.messages,
            "templates": self.templates,
            "api_calls": self.api_calls,
            "duration_s": round(self.duration_s, 3),
            "skipped": [{"kind": s.kind, "id": s.record_id, "reason": s.reason} for s in self.skipped],
        }


def load_sync_state(store: Store, tenant: TenantRef) -> SyncState:
    from feedbackloop.store.models import SyncStateRow

    return SyncState.from_json(store.get_state(SyncStateRow, tenant, SYNC_STREAM))


def store_batch(store: Store, tenant: TenantRef, batch: SyncBatch) -> None:
    """Upsert the batch's records and save its state, atomically."""
    from feedbackloop.store.models import DealRow, MessageRow, SyncStateRow, TemplateRow

    store.apply(
        tenant,
        [
            (TemplateRow, [template_row(t) for t in batch.templates]),
            (DealRow, [deal_row(d) for d in batch.deals]),
            (MessageRow, [message_row(m) for m in batch.messages]),
        ],
        state=(SyncStateRow, SYNC_STREAM, batch.state.to_json()),
    )


def run_sync(
    store: Store,
    tenant: TenantRef,
    connector: Connector,
    *,
    full: bool = False,
    on_batch: Callable[[SyncBatch, SyncSummary], None] | None = None,
) -> SyncSummary:
    """Sync ``tenant`` through ``connector`` from its saved state (or from scratch with ``full``)."""
    started = time.perf_counter()
    calls_before = connector.api_calls
    state = SyncState() if full else load_sync_state(store, tenant)
    summary = SyncSummary()
    for batch in connector.sync(state, full=full):
        store_batch(store, tenant, batch)
        summary.deals += len(batch.deals)
        summary.messages += len(batch.messages)
        summary.templates += len(batch.templates)
        summary.skipped.extend(batch.skipped)
        summary.api_calls = connector.api_calls - calls_before
        if on_batch:
            on_batch(batch, summary)
    summary.api_calls = connector.api_calls - calls_before
    summary.duration_s = time.perf_counter() - started
    return summary
