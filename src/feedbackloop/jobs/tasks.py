"""The periodic per-tenant jobs: sync, analyze + write-back, the weekly review, due re-analyses.

Jobs are plain functions named by reference in APScheduler's persistent job store, so they take only
the tenant's name; the process-wide :class:`Runtime` (set by whoever starts the scheduler) gives them
the store and the work functions. Every job runs under the tenant's database lock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, cast

import sqlalchemy as sa

from feedbackloop.config.settings import Settings
from feedbackloop.errors import UsageError
from feedbackloop.jobs.locks import JobLock
from feedbackloop.store import Store, TenantRef, utcnow
from feedbackloop.store.service_models import AnalysisRequest
from feedbackloop.webhooks.metrics import ServiceMetrics

__all__ = [
    "Runtime",
    "analyze_job",
    "configure",
    "default_analyze",
    "default_sync",
    "due_analyses_job",
    "enqueue_reconcile",
    "review_job",
    "runtime",
    "sync_job",
]

log = logging.getLogger(__name__)

TenantWork = Callable[[Settings, Store, TenantRef], Any]
LOCK_TTL = timedelta(hours=1)


def default_sync(settings: Settings, store: Store, tenant: TenantRef) -> Any:
    """An incremental sync through the tenant's connector (the saved cursor makes it cheap).

    It is also the reconciliation for webhooks that never arrived: every closed deal it stores is put
    in the inbox as a ``reconcile`` event, and the worker's ledger applies each outcome once whichever
    way it arrived.
    """
    from feedbackloop.connectors.registry import build_connector
    from feedbackloop.connectors.sync import run_sync

    closed: list[tuple[str, str]] = []

    def collect(batch: Any, _summary: Any) -> None:
        closed.extend((str(d.deal_id), str(d.outcome.value)) for d in batch.deals)

    summary = run_sync(store, tenant, build_connector(settings, store, tenant), on_batch=collect)
    enqueue_reconcile(store, tenant, closed)
    return summary.to_json()


def enqueue_reconcile(store: Store, tenant: TenantRef, deals: list[tuple[str, str]]) -> int:
    """Put closed deals in the inbox (idempotently, by deal and outcome) for the worker to learn from."""
    from feedbackloop.webhooks.inbox import Inbox, NewEvent, event_key
    from feedbackloop.webhooks.worker import CLOSED_OUTCOMES

    events = [
        NewEvent(tenant, event_key("reconcile", deal_id, outcome), {"deal_id": deal_id, "outcome": outcome})
        for deal_id, outcome in deals
        if outcome in CLOSED_OUTCOMES
    ]
    return Inbox(store).add("reconcile", events)[0]


def default_analyze(settings: Settings, store: Store, tenant: TenantRef) -> Any:
    """Run the engine as ``feedbackloop analyze`` does (and record it), then write back what changed."""
    from feedbackloop.analysis import analyze_tenant
    from feedbackloop.connectors.registry import build_connector
    from feedbackloop.connectors.writeback import run_writeback

    data = analyze_tenant(store, tenant, utcnow())
    if tenant.provider not in ("hubspot", "salesforce"):
        return {"run_id": data.get("run_id")}
    summary = run_writeback(store, tenant, build_connector(settings, store, tenant), data)
    return {"run_id": data.get("run_id"), "writeback": summary.to_json()}


@dataclass
class Runtime:
    """What the jobs of this process use."""

    settings: Settings
    store: Store
    sync: TenantWork = default_sync
    analyze: TenantWork = default_analyze
    review: TenantWork | None = None
    metrics: ServiceMetrics | None = None
    lock: JobLock | None = None
    results: list[tuple[str, str, Any]] = field(default_factory=list)  # last runs, for tests

    def __post_init__(self) -> None:
        self.lock = self.lock or JobLock(self.store)


_RUNTIME: dict[str, Runtime] = {}


def configure(value: Runtime | None) -> None:
    """Set (or clear) this process's job runtime."""
    _RUNTIME.clear()
    if value is not None:
        _RUNTIME["current"] = value


def runtime() -> Runtime:
    if "current" not in _RUNTIME:
        raise UsageError("the job runtime is not configured in this process")
    return _RUNTIME["current"]


def _run(job: str, tenant_name: str, work: TenantWork) -> Any:
    rt = runtime()
    tenant = rt.store.get_tenant(tenant_name)
    if tenant is None:
        return None
    assert rt.lock is not None
    with rt.lock.held(f"{job}:{tenant_name}", LOCK_TTL) as got:
        if not got:
            _count(rt, job, "locked")
            return None
        try:
            result = work(rt.settings, rt.store, tenant)
        except Exception as exc:
            _count(rt, job, "failed")
            log.warning("%s for tenant %s failed: %s", job, tenant_name, exc)
            rt.results.append((job, tenant_name, exc))
            return None
    _count(rt, job, "ok")
    rt.results.append((job, tenant_name, result))
    del rt.results[:-50]
    return result


def _count(rt: Runtime, job: str, result: str) -> None:
    if rt.metrics is not None:
        rt.metrics.job_runs.labels(job, result).inc()


def sync_job(tenant_name: str) -> Any:
    return _run("sync", tenant_name, runtime().sync)


def analyze_job(tenant_name: str) -> Any:
    return _run("analyze", tenant_name, runtime().analyze)


def review_job(tenant_name: str) -> Any:
    rt = runtime()
    return _run("review", tenant_name, rt.review or rt.analyze)


_REQUESTS = cast(sa.Table, AnalysisRequest.__table__)


def due_analyses_job() -> list[str]:
    """Analyse and write back every tenant whose debounced request (from new outcomes) is due."""
    rt = runtime()
    now = utcnow()
    with rt.store.db.engine.connect() as conn:
        due = conn.execute(
            sa.select(_REQUESTS.c.tenant_id, _REQUESTS.c.requested_at).where(_REQUESTS.c.due_at <= now)
        ).all()
    names = {t.id: t.name for t in rt.store.list_tenants()}
    done = []
    for tenant_id, requested_at in due:
        name = names.get(tenant_id)
        if name is None:
            continue
        _run("analyze", name, rt.analyze)
        with rt.store.db.engine.begin() as conn:  # a newer request (arrived meanwhile) stays
            conn.execute(
                sa.delete(_REQUESTS).where(
                    _REQUESTS.c.tenant_id == tenant_id, _REQUESTS.c.requested_at == requested_at
                )
            )
        done.append(name)
    return done
