"""The selection API's in-process optimizer cache: one loaded optimizer per tenant, reloaded on change.

Loading and saving the JSON state on every call cost milliseconds (and two commits). The cache keeps
each tenant's optimizer in memory and checks one cheap column, the state row's ``updated_at``, to see
whether another process (the inbox worker, another server) saved a newer one. Learning calls save at
once; selections save at most once a ``save_interval`` (a selection only moves the random generator,
and sticky A/B assignments are hash-based, so a crash loses nothing that matters).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from feedbackloop.engine.optimizer import ContinuousOptimizer
from feedbackloop.engine.optimizer.state import BANDIT_KEY, load_or_build_optimizer, save_optimizer
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import OptimizerStateRow

__all__ = ["OptimizerCache"]


@dataclass
class _Entry:
    optimizer: ContinuousOptimizer
    version: datetime | None
    saved_at: float
    dirty: bool = False


class OptimizerCache:
    """Per-tenant optimizers for one process; callers hold the tenant's lock around get → use → save."""

    def __init__(self, save_interval: float = 1.0) -> None:
        self.save_interval = save_interval
        self._entries: dict[tuple[str, int], _Entry] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _version(store: Store, tenant: TenantRef) -> datetime | None:
        table = OptimizerStateRow.__table__
        with store.db.engine.connect() as conn:
            value = conn.execute(
                sa.select(table.c.updated_at).where(
                    table.c.tenant_id == tenant.id, table.c.name == BANDIT_KEY
                )
            ).scalar()
        return value if isinstance(value, datetime) else None

    @staticmethod
    def _key(store: Store, tenant: TenantRef) -> tuple[str, int]:
        return (store.db.url, tenant.id)  # one process may serve several databases (tests do)

    def get(self, store: Store, tenant: TenantRef) -> ContinuousOptimizer:
        """The tenant's optimizer, reloaded when the stored state changed (or vanished) since we saw it."""
        version = self._version(store, tenant)
        key = self._key(store, tenant)
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry.version != version:
            optimizer, _ = load_or_build_optimizer(store, tenant)
            entry = _Entry(optimizer, version, time.monotonic())
            with self._lock:
                self._entries[key] = entry
        return entry.optimizer

    def save(self, store: Store, tenant: TenantRef, *, now: bool = True) -> None:
        """Persist the tenant's optimizer (``now=False``: only if the last save is old enough)."""
        with self._lock:
            entry = self._entries.get(self._key(store, tenant))
        if entry is None:
            return
        if not now and time.monotonic() - entry.saved_at < self.save_interval:
            entry.dirty = True
            return
        save_optimizer(store, tenant, entry.optimizer)
        entry.version = self._version(store, tenant)
        entry.saved_at, entry.dirty = time.monotonic(), False
