"""Learning a deal outcome in the optimizer on the worker's connection (one transaction with the ledger).

The bandit state and its A/B tests are read, updated and written back on the connection that also
writes the ledger row and the inbox status, so an outcome reaches the bandit exactly once even if the
worker dies half-way. The exposures (templates the deal received, first position, contact) are those
:class:`feedbackloop.engine.feedback.FeedbackPipeline` uses; A/B test conclusions and the optimisation
cycle run in the scheduled analysis, not per event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa

from feedbackloop.engine.optimizer.abtest import ABTest
from feedbackloop.engine.optimizer.bandit import ContinuousOptimizer
from feedbackloop.engine.optimizer.state import BANDIT_KEY, TEST_PREFIX, build_optimizer
from feedbackloop.store import Store, TenantRef, utcnow
from feedbackloop.store.models import DealRow, MessageRow, OptimizerStateRow
from feedbackloop.store.upsert import upsert_rows

__all__ = ["OptimizerLearner", "load_on", "save_on"]

_STATE = cast(sa.Table, OptimizerStateRow.__table__)
_MESSAGES = cast(sa.Table, MessageRow.__table__)
_DEALS = cast(sa.Table, DealRow.__table__)


def load_on(conn: sa.Connection, tenant: TenantRef) -> ContinuousOptimizer | None:
    """The tenant's saved optimizer (with its tests), read on ``conn``."""
    rows = conn.execute(
        sa.select(_STATE.c.name, _STATE.c.state).where(
            _STATE.c.tenant_id == tenant.id,
            sa.or_(_STATE.c.name == BANDIT_KEY, _STATE.c.name.like(TEST_PREFIX + "%")),
        )
    ).all()
    states = {str(name): dict(state) for name, state in rows}
    if BANDIT_KEY not in states:
        return None
    optimizer = ContinuousOptimizer.from_state(states.pop(BANDIT_KEY))
    for state in states.values():
        test = ABTest.from_state(state)
        optimizer.tests[test.test_id] = test
    return optimizer


def save_on(conn: sa.Connection, tenant: TenantRef, optimizer: ContinuousOptimizer) -> None:
    """Write the bandit and its tests on ``conn`` (the same layout as ``save_optimizer``)."""
    now = utcnow()
    bandit = optimizer.to_state()
    bandit["tests"] = {}
    rows = [{"tenant_id": tenant.id, "name": BANDIT_KEY, "state": bandit, "updated_at": now}]
    rows += [
        {"tenant_id": tenant.id, "name": TEST_PREFIX + t.test_id, "state": t.to_state(), "updated_at": now}
        for t in optimizer.tests.values()
    ]
    upsert_rows(conn, _STATE, rows, keys=["tenant_id", "name"])


def _exposures(conn: sa.Connection, tenant: TenantRef, deal_id: str) -> tuple[Any, list[Any]]:
    m = _MESSAGES.c
    rows = conn.execute(
        sa.select(m.template_id, sa.func.min(m.position), sa.func.min(m.contact_id))
        .where(
            m.tenant_id == tenant.id, m.deal_id == deal_id, m.template_id.is_not(None), m.template_id != ""
        )
        .group_by(m.template_id)
        .order_by(m.template_id)
    ).all()
    deal = conn.execute(
        sa.select(_DEALS.c.segment, _DEALS.c.closed_at).where(
            _DEALS.c.tenant_id == tenant.id, _DEALS.c.deal_id == deal_id
        )
    ).first()
    return deal, list(rows)


class OptimizerLearner:
    """``(conn, tenant, deal_id, outcome)`` → the bandit learns the outcome of every template received."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def __call__(self, conn: sa.Connection, tenant: TenantRef, deal_id: str, outcome: str) -> None:
        if outcome not in ("won", "lost"):
            return  # only won vs lost teach the optimizer (the ledger still records the outcome)
        optimizer = load_on(conn, tenant)
        if optimizer is None:  # first outcome of this tenant: start from its whole history
            optimizer = build_optimizer(self.store, tenant)
        deal, exposures = _exposures(conn, tenant, deal_id)
        # Learned "now", as FeedbackPipeline.process_outcome does: the optimizer's own dedupe ledger and
        # its discounting are keyed by when an outcome was learned, not when the deal closed.
        at = datetime.now(UTC)
        for template_id, position, contact in exposures:
            context: dict[str, Any] = {"deal_id": deal_id}
            if deal is not None and deal.segment:
                context["segment"] = deal.segment
            if position is not None:
                context["position"] = int(position)
            if contact:
                context["prospect_id"] = contact
            optimizer.update_on_outcome(str(template_id), outcome == "won", context, at=at)
        save_on(conn, tenant, optimizer)
