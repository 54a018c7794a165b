"""Persistence of engine runs: the analyze JSON per run, the decisions per template, and reads back.

Kept apart from :mod:`feedbackloop.store.repo` so that the engine's bookkeeping has one home; it uses the
``analysis_runs`` and ``decisions`` tables of the initial migration.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from feedbackloop.store.models import AnalysisRun, DecisionRow
from feedbackloop.store.repo import Store, TenantRef, utcnow

__all__ = ["decision_history", "latest_decisions", "latest_run_result", "record_run"]


def record_run(
    store: Store,
    tenant: TenantRef,
    *,
    as_of: datetime,
    started_at: datetime,
    result: dict[str, Any],
    decisions: Iterable[dict[str, Any]],
    kind: str = "analyze",
) -> int:
    """Store one run and its decisions in one transaction; returns the run id."""
    now = utcnow()
    with store.db.session() as s:
        run = AnalysisRun(tenant_id=tenant.id, kind=kind, as_of=as_of, started_at=started_at, result=result)
        s.add(run)
        s.flush()
        s.add_all(
            DecisionRow(
                tenant_id=tenant.id,
                run_id=run.id,
                template_id=str(d["template_id"]),
                action=str(d["action"]),
                criteria=d.get("criteria") or {},
                reason=d.get("reason"),
                as_of=as_of,
                decided_at=now,
            )
            for d in decisions
        )
        s.commit()
        return int(run.id)


def latest_run_result(store: Store, tenant: TenantRef, kind: str = "analyze") -> dict[str, Any] | None:
    """The JSON result of the tenant's most recent run of ``kind`` (None before the first run)."""
    with store.db.session() as s:
        row = s.scalar(
            sa.select(AnalysisRun)
            .where(AnalysisRun.tenant_id == tenant.id, AnalysisRun.kind == kind)
            .order_by(AnalysisRun.id.desc())
            .limit(1)
        )
        return dict(row.result) if row is not None and row.result else None


def _decision(row: DecisionRow) -> dict[str, Any]:
    return {
        "run_id": row.run_id,
        "template_id": row.template_id,
        "action": row.action,
        "reason": row.reason,
        "criteria": row.criteria,
        "as_of": row.as_of.isoformat(),
        "decided_at": row.decided_at.isoformat(),
    }


def decision_history(
    store: Store, tenant: TenantRef, template_id: str, limit: int = 10
) -> list[dict[str, Any]]:
    """The template's most recent decisions, newest first."""
    with store.db.session() as s:
        rows = s.scalars(
            sa.select(DecisionRow)
            .where(DecisionRow.tenant_id == tenant.id, DecisionRow.template_id == template_id)
            .order_by(DecisionRow.id.desc())
            .limit(limit)
        )
        return [_decision(r) for r in rows]


def latest_decisions(store: Store, tenant: TenantRef) -> dict[str, str]:
    """template_id → action of the latest run that decided it."""
    with store.db.session() as s:
        last = (
            sa.select(DecisionRow.template_id, sa.func.max(DecisionRow.id).label("id"))
            .where(DecisionRow.tenant_id == tenant.id)
            .group_by(DecisionRow.template_id)
            .subquery()
        )
        rows = s.execute(
            sa.select(DecisionRow.template_id, DecisionRow.action).join(last, DecisionRow.id == last.c.id)
        )
        return {str(t): str(a) for t, a in rows}
