"""A worker process for the crash tests: ``python -m tests.service_worker_proc DB_URL SLOW_SECONDS``.

Every deal counts as won; the effect increments a per-deal counter in ``optimizer_state`` on the
ledger's connection, so the test can see how often each outcome was applied.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import cast

import sqlalchemy as sa

from feedbackloop.store import Store, TenantRef
from feedbackloop.store.db import Database
from feedbackloop.store.models import OptimizerStateRow
from feedbackloop.webhooks.inbox import Inbox
from feedbackloop.webhooks.worker import InboxWorker, StoreOutcomes


class CountingHandler(StoreOutcomes):
    def __init__(self, store: Store, slow: float) -> None:
        super().__init__(store)
        self.slow = slow

    def outcome(self, tenant: TenantRef, deal_id: str) -> str | None:
        return "won"

    def apply(self, conn: sa.Connection, tenant: TenantRef, deal_id: str, outcome: str) -> None:
        table = cast(sa.Table, OptimizerStateRow.__table__)
        key = f"count:{deal_id}"
        row = conn.execute(
            sa.select(table.c.state).where(table.c.tenant_id == tenant.id, table.c.name == key)
        ).first()
        n = (row.state["n"] if row else 0) + 1
        time.sleep(self.slow)  # the kill lands here, inside the transaction, most of the time
        if row:
            conn.execute(
                sa.update(table)
                .where(table.c.tenant_id == tenant.id, table.c.name == key)
                .values(state={"n": n})
            )
        else:
            conn.execute(
                sa.insert(table).values(
                    tenant_id=tenant.id, name=key, state={"n": n}, updated_at=sa.func.now()
                )
            )


def main() -> None:
    url, slow = sys.argv[1], float(sys.argv[2])
    store = Store(Database(url))
    worker = InboxWorker(store, CountingHandler(store, slow), inbox=Inbox(store, lease=1.0), batch=10)
    stop = threading.Event()
    worker.run_forever(stop, idle=0.05)


if __name__ == "__main__":
    main()
