"""`FeedbackPipeline`: the seed's feedback loop, from a closed deal to a better next email.

``process_outcome`` attributes a closed deal to the templates it received (from the store's messages,
one exposure per deal × template), updates the optimizer, checks the running A/B tests (always-valid,
so checking on every outcome is safe), promotes winners in the store with actor ``engine``, runs the
optimization cycle when it is due and saves the optimizer. ``on_prospect_response`` applies the reply
boost. The pipeline is thin on purpose: the statistics live in ``engine.optimizer``; the decision rule
and the variant generator are parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from feedbackloop.domain import Outcome, to_jsonable
from feedbackloop.engine.optimizer.bandit import ContinuousOptimizer
from feedbackloop.engine.optimizer.cycle import (
    CycleReport,
    DecideFn,
    StatusChange,
    VariantHook,
    conclude_tests,
    default_decide,
    run_optimization_cycle,
)
from feedbackloop.engine.optimizer.state import load_or_build_optimizer, save_optimizer
from feedbackloop.errors import UsageError
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import DealRow, MessageRow, OptimizerStateRow, TemplateRow

__all__ = ["CYCLE_KEY", "FeedbackPipeline", "OutcomeReport"]

CYCLE_KEY = "cycle"
_HISTORY = 20


@dataclass
class OutcomeReport:
    """What processing one deal outcome did."""

    deal_id: str
    outcome: str
    learned: bool
    templates: list[str] = field(default_factory=list)
    tests_ended: list[str] = field(default_factory=list)
    status_changes: list[StatusChange] = field(default_factory=list)
    cycle: CycleReport | None = None
    note: str | None = None


class FeedbackPipeline:
    """Feeds outcomes and replies of one tenant into its optimizer and persists the result."""

    def __init__(
        self,
        store: Store,
        tenant: TenantRef,
        *,
        optimizer: ContinuousOptimizer | None = None,
        seed: int = 0,
        decide: DecideFn = default_decide,
        variant_hook: VariantHook | None = None,
        cycle_every: timedelta = timedelta(days=7),
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.store, self.tenant = store, tenant
        self.optimizer = optimizer or load_or_build_optimizer(store, tenant, seed=seed)[0]
        self.decide, self.variant_hook, self.cycle_every = decide, variant_hook, cycle_every
        self._clock = clock or (lambda: datetime.now(UTC))

    # -- outcomes and replies ----------------------------------------------------------------------
    def process_outcome(
        self, deal_id: str, outcome: Outcome | str, at: datetime | None = None
    ) -> OutcomeReport:
        """Learn from a deal that closed as ``outcome`` (only won and lost teach the optimizer)."""
        at = at or self._clock()
        result = Outcome(outcome)
        report = OutcomeReport(deal_id, result.value, learned=False)
        if result not in (Outcome.WON, Outcome.LOST):
            report.note = f"{result.value} is not a learning outcome (won vs lost)"
        else:
            segment, exposures = self.exposures(deal_id)
            for template_id, position, contact in exposures:
                context: dict[str, Any] = {
                    "deal_id": deal_id,
                    "prospect_id": contact,
                    "segment": segment,
                    "position": position,
                }
                context = {k: v for k, v in context.items() if v is not None}
                if self.optimizer.update_on_outcome(template_id, result is Outcome.WON, context, at=at):
                    report.templates.append(template_id)
            report.learned = bool(report.templates)
            if not exposures:
                report.note = "the deal received no template (no messages with a template id)"
            elif not report.learned:
                report.note = "already learned (a repeated event for this deal)"
        ended, changes = conclude_tests(self.optimizer, at)
        report.tests_ended = [t.test_id for t in ended]
        report.status_changes = self._apply(changes)
        if self.cycle_due(at):
            report.cycle = self.run_optimization_cycle(at)
        else:
            save_optimizer(self.store, self.tenant, self.optimizer)
        return report

    def on_prospect_response(
        self,
        template_id: str,
        sentiment: float,
        meeting_intent: bool,
        context: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Boost ``template_id`` after a strongly positive reply; True if it was boosted (and saved)."""
        boosted = self.optimizer.on_response(
            template_id, sentiment, meeting_intent, context, at or self._clock()
        )
        if boosted:
            save_optimizer(self.store, self.tenant, self.optimizer)
        return boosted

    def exposures(self, deal_id: str) -> tuple[str | None, list[tuple[str, int | None, str | None]]]:
        """The deal's segment and each template it received: first sequence position, a contact id.

        The same messages as the engine's exposures: outbound, templated, not sent after the close. The
        contact is the prospect an A/B test assigned stickily, so the outcome finds its test arm.
        """
        m = MessageRow.__table__.c
        with self.store.db.session() as s:
            deal = s.get(DealRow, (self.tenant.id, deal_id))
            if deal is None:
                raise UsageError(f"unknown deal {deal_id!r} in tenant {self.tenant.name!r}")
            conditions = [
                m.tenant_id == self.tenant.id,
                m.deal_id == deal_id,
                m.template_id.is_not(None),
                m.template_id != "",
                sa.or_(m.direction.is_(None), m.direction == "outbound"),
            ]
            if deal.closed_at is not None:
                conditions.append(m.sent_at <= deal.closed_at)
            query = (
                sa.select(m.template_id, sa.func.min(m.position), sa.func.min(m.contact_id))
                .where(*conditions)
                .group_by(m.template_id)
                .order_by(m.template_id)
            )
            rows = s.execute(query).all()
        return deal.segment, [(str(t), None if p is None else int(p), c) for t, p, c in rows]

    # -- the cycle ---------------------------------------------------------------------------------
    def cycle_due(self, at: datetime) -> bool:
        last = self.store.get_state(OptimizerStateRow, self.tenant, CYCLE_KEY).get("last_run")
        return last is None or at - datetime.fromisoformat(last) >= self.cycle_every

    def run_optimization_cycle(self, at: datetime | None = None) -> CycleReport:
        """Run the cycle now, write its status changes to the store, record it and save the optimizer."""
        at = at or self._clock()
        report = run_optimization_cycle(
            self.optimizer, at, decide=self.decide, variant_hook=self.variant_hook, pinned=self._pinned()
        )
        report.changes = self._apply(report.changes)
        save_optimizer(self.store, self.tenant, self.optimizer)
        state = self.store.get_state(OptimizerStateRow, self.tenant, CYCLE_KEY)
        history = [*state.get("history", []), to_jsonable(report)][-_HISTORY:]
        self.store.put_state(
            OptimizerStateRow, self.tenant, CYCLE_KEY, {"last_run": at.isoformat(), "history": history}
        )
        return report

    def _pinned(self) -> set[str]:
        t = TemplateRow.__table__.c
        with self.store.db.session() as s:
            rows = s.execute(
                sa.select(t.template_id).where(t.tenant_id == self.tenant.id, t.pinned.is_(True))
            )
            return {str(r[0]) for r in rows}

    def _apply(self, changes: list[StatusChange]) -> list[StatusChange]:
        """Write status changes to the store (actor ``engine``); templates the store lacks are skipped."""
        applied = []
        for change in changes:
            try:
                self.store.set_template_status(
                    self.tenant, change.template_id, change.status.value, actor="engine", reason=change.reason
                )
            except UsageError:
                continue
            applied.append(change)
        return applied
