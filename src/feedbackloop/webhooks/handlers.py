"""The production event handler: fetch the tenant's changes, read the outcome, feed the optimizer.

``prepare`` runs one incremental sync per tenant and batch (the connector's cursor makes it cheap;
this is the "sync these deals" capability without new connector code). ``apply`` learns on the
ledger's connection, so the bandit update, the ledger row and the inbox status commit together.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from feedbackloop.config.settings import Settings
from feedbackloop.store import Store, TenantRef
from feedbackloop.webhooks.inbox import ClaimedEvent
from feedbackloop.webhooks.worker import StoreOutcomes

__all__ = ["Learner", "SyncAndLearn"]

#: Learns one outcome on a connection: ``(conn, tenant, deal_id, outcome)``.
Learner = Callable[[sa.Connection, TenantRef, str, str], None]


class SyncAndLearn(StoreOutcomes):
    """Sync the tenant (CRM tenants only), then learn each closed outcome once."""

    def __init__(self, settings: Settings, store: Store, learner: Learner | None = None) -> None:
        super().__init__(store)
        self.settings = settings
        self.learner = learner or _default_learner(store)

    def prepare(self, tenant: TenantRef, events: list[ClaimedEvent]) -> None:
        if tenant.provider not in ("hubspot", "salesforce"):
            return
        if all(e.provider == "reconcile" for e in events):
            return  # they came from a sync
        if tenant.settings.get("sync_on_webhook") is False:
            return  # this tenant relies on the periodic sync alone
        from feedbackloop.connectors.registry import build_connector
        from feedbackloop.connectors.sync import run_sync

        run_sync(self.store, tenant, build_connector(self.settings, self.store, tenant))

    def apply(self, conn: sa.Connection, tenant: TenantRef, deal_id: str, outcome: str) -> None:
        if self.learner is not None:
            self.learner(conn, tenant, deal_id, outcome)


def _default_learner(store: Store) -> Learner:
    from feedbackloop.webhooks.learning import OptimizerLearner

    return OptimizerLearner(store)
