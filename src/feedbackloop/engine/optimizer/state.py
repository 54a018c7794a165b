"""Persisting the optimizer per tenant: the bandit as ``bandit``, each A/B test as ``abtest:<id>``.

Both live as JSON in the store's ``optimizer_state`` table. When a tenant has no saved bandit yet, one is
built from the store: template statuses, then one update per closed (won or lost) deal × template it
received, in close-date order, so the discounting and change detection see history as it happened.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from feedbackloop.domain import TemplateStatus
from feedbackloop.engine.exposure import UNKNOWN_SEGMENT, build_exposures
from feedbackloop.engine.optimizer.abtest import ABTest
from feedbackloop.engine.optimizer.bandit import ContinuousOptimizer
from feedbackloop.engine.settings import EngineSettings
from feedbackloop.errors import UsageError
from feedbackloop.store import Store, TenantRef
from feedbackloop.store.models import OptimizerStateRow

__all__ = [
    "BANDIT_KEY",
    "TEST_PREFIX",
    "build_optimizer",
    "exposures_frame",
    "load_optimizer",
    "load_or_build_optimizer",
    "load_test",
    "load_tests",
    "optimizer_from_frames",
    "save_optimizer",
    "save_test",
]

BANDIT_KEY = "bandit"
TEST_PREFIX = "abtest:"


def save_test(store: Store, tenant: TenantRef, test: ABTest) -> None:
    store.put_state(OptimizerStateRow, tenant, TEST_PREFIX + test.test_id, test.to_state())


def load_tests(store: Store, tenant: TenantRef) -> list[ABTest]:
    """Every A/B test of a tenant, oldest first."""
    table = OptimizerStateRow.__table__
    query = sa.select(table.c.state).where(
        table.c.tenant_id == tenant.id, table.c.name.like(TEST_PREFIX + "%")
    )
    with store.db.engine.connect() as conn:
        tests = [ABTest.from_state(dict(row[0])) for row in conn.execute(query)]
    return sorted(tests, key=lambda t: (t.started_at, t.test_id))


def load_test(store: Store, tenant: TenantRef, test_id: str) -> ABTest:
    state = store.get_state(OptimizerStateRow, tenant, TEST_PREFIX + test_id)
    if not state:
        known = ", ".join(t.test_id for t in load_tests(store, tenant)) or "none yet"
        raise UsageError(f"unknown A/B test {test_id!r} in tenant {tenant.name!r} (known: {known})")
    return ABTest.from_state(state)


def _attach_running_tests(store: Store, tenant: TenantRef, optimizer: ContinuousOptimizer) -> None:
    """Serve the tenant's running tests (ended ones stay in their rows, out of the hot path)."""
    for test in load_tests(store, tenant):
        if test.running:
            optimizer.tests[test.test_id] = test


def save_optimizer(store: Store, tenant: TenantRef, optimizer: ContinuousOptimizer) -> None:
    """Save the bandit and every test it serves (tests separately, so the CLI can list them)."""
    state = optimizer.to_state()
    state["tests"] = {}
    store.put_state(OptimizerStateRow, tenant, BANDIT_KEY, state)
    for test in optimizer.tests.values():
        save_test(store, tenant, test)


def load_optimizer(store: Store, tenant: TenantRef) -> ContinuousOptimizer | None:
    """The tenant's saved optimizer with its tests attached, or None if none was saved."""
    state = store.get_state(OptimizerStateRow, tenant, BANDIT_KEY)
    if not state:
        return None
    optimizer = ContinuousOptimizer.from_state(state)
    _attach_running_tests(store, tenant, optimizer)
    return optimizer


def exposures_frame(deals: pd.DataFrame, messages: pd.DataFrame) -> pd.DataFrame:
    """One row per closed deal × template received, in close order: the engine's own exposures
    (:func:`feedbackloop.engine.exposure.build_exposures`), so the optimizer learns from the same units
    and outcome mapping as the analysis. Columns: deal_id, template_id, won, segment, position, closed_at.
    """
    columns = ["deal_id", "template_id", "won", "segment", "position", "closed_at"]
    if deals.empty or messages.empty:
        return pd.DataFrame(columns=columns)
    exposures = build_exposures(deals, messages, EngineSettings())
    out = exposures.rename(columns={"first_position": "position"})
    out["segment"] = out["segment"].where(out["segment"] != UNKNOWN_SEGMENT, None)
    ordered: pd.DataFrame = out.sort_values(["closed_at", "deal_id", "template_id"], na_position="first")
    return ordered[columns]


def optimizer_from_frames(
    templates: pd.DataFrame, deals: pd.DataFrame, messages: pd.DataFrame, *, seed: int = 0, **options: Any
) -> ContinuousOptimizer:
    """An optimizer learned from frames (the store's columns): template statuses, then one update per
    closed deal × template in close order, so change detection sees the history as it happened."""
    optimizer = ContinuousOptimizer(list(templates["template_id"]), seed=seed, **options)
    if "status" in templates.columns:
        for tid, status in zip(templates["template_id"], templates["status"], strict=True):
            optimizer.set_status(str(tid), TemplateStatus(str(status)))
    fallback = datetime.now(UTC)
    for rec in exposures_frame(deals, messages).to_dict("records"):
        context: dict[str, Any] = {"deal_id": rec["deal_id"]}
        if isinstance(rec["segment"], str) and rec["segment"]:
            context["segment"] = rec["segment"]
        if pd.notna(rec["position"]):
            context["position"] = int(rec["position"])
        closed = rec["closed_at"]
        at = closed.to_pydatetime() if isinstance(closed, pd.Timestamp) else fallback
        optimizer.update_on_outcome(str(rec["template_id"]), bool(rec["won"]), context, at=at)
    return optimizer


def build_optimizer(store: Store, tenant: TenantRef, *, seed: int = 0, **options: Any) -> ContinuousOptimizer:
    """An optimizer learned from the store's templates and closed deals × templates, with its tests."""
    optimizer = optimizer_from_frames(
        store.templates_frame(tenant),
        store.deals_frame(tenant),
        store.messages_frame(tenant),
        seed=seed,
        **options,
    )
    _attach_running_tests(store, tenant, optimizer)
    return optimizer


def load_or_build_optimizer(
    store: Store, tenant: TenantRef, *, seed: int = 0
) -> tuple[ContinuousOptimizer, bool]:
    """The saved optimizer, or a freshly built one; the flag says whether it was built."""
    saved = load_optimizer(store, tenant)
    if saved is not None:
        return saved, False
    return build_optimizer(store, tenant, seed=seed), True
