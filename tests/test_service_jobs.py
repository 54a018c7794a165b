"""Jobs: the database lock, the APScheduler wiring, debounced re-analyses."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from feedbackloop.jobs import tasks
from feedbackloop.jobs.locks import JobLock
from feedbackloop.jobs.scheduler import ScheduleConfig, build_scheduler, start
from feedbackloop.jobs.tasks import Runtime
from feedbackloop.store import Store, TenantRef, utcnow
from feedbackloop.store.service_models import AnalysisRequest

pytestmark = pytest.mark.store


def test_lock_is_exclusive_until_released_or_expired(store: Store):
    a, b = JobLock(store, "a"), JobLock(store, "b")
    assert a.acquire("sync:t", timedelta(minutes=5))
    assert not b.acquire("sync:t", timedelta(minutes=5))
    assert a.acquire("sync:t", timedelta(minutes=5))  # the owner renews
    a.release("sync:t")
    assert b.acquire("sync:t", timedelta(seconds=-1))  # taken, already expired (a crashed holder)
    assert a.acquire("sync:t", timedelta(minutes=5))


def test_two_processes_never_run_the_same_tenant_job_at_once(settings, store: Store):
    store.create_tenant("t", provider="hubspot", external_id="1")
    running, overlaps, runs = [0], [0], [0]
    guard = threading.Lock()

    def slow_sync(_settings: Any, _store: Store, _tenant: TenantRef) -> None:
        with guard:
            running[0] += 1
            overlaps[0] = max(overlaps[0], running[0])
            runs[0] += 1
        time.sleep(0.2)
        with guard:
            running[0] -= 1

    # Two "processes": two runtimes with different lock owners, calling the job concurrently.
    results = []
    for owner in ("p1", "p2"):
        rt = Runtime(settings, store, sync=slow_sync, lock=JobLock(store, owner))
        tasks.configure(rt)
        results.append(rt)
    threads = []
    for rt in results:

        def call(rt: Runtime = rt) -> None:
            assert rt.lock is not None
            with rt.lock.held("sync:t", timedelta(minutes=1)) as got:
                if got:
                    rt.sync(settings, store, store.resolve_tenant("t"))

        threads.append(threading.Thread(target=call))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert overlaps[0] == 1
    assert runs[0] == 1
    tasks.configure(None)


def test_scheduler_runs_tenant_jobs_on_a_short_cycle(settings, store: Store):
    store.create_tenant("hub", provider="hubspot", external_id="1")
    store.create_tenant("csv")  # CSV tenants get no CRM jobs
    seen: list[str] = []
    rt = Runtime(settings, store, sync=lambda s, st, t: seen.append(f"sync:{t.name}"),
                 analyze=lambda s, st, t: seen.append(f"analyze:{t.name}"))  # fmt: skip
    scheduler = build_scheduler(
        rt, ScheduleConfig(sync_minutes=0.01, analyze_minutes=0.02, due_check_seconds=1)
    )
    ids = {job.id for job in scheduler.get_jobs()}
    assert {"sync:hub", "analyze:hub", "review:hub", "due-analyses", "refresh-tenants"} <= ids
    assert not any(i.endswith(":csv") for i in ids)
    start(scheduler)
    try:
        for job in scheduler.get_jobs():
            assert job.max_instances == 1
            assert job.coalesce
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not ({"sync:hub", "analyze:hub"} <= set(seen)):
            time.sleep(0.1)
    finally:
        scheduler.shutdown(wait=True)
        tasks.configure(None)
    assert {"sync:hub", "analyze:hub"} <= set(seen)
    # The job store is persistent: a new scheduler on the same database sees the jobs.
    again = build_scheduler(rt, ScheduleConfig())
    again.start(paused=True)
    try:
        assert "sync:hub" in {job.id for job in again.get_jobs()}
    finally:
        again.shutdown(wait=False)
        tasks.configure(None)


def test_due_analyses_run_once_per_request(settings, store: Store):
    tenant = store.create_tenant("hub", provider="hubspot", external_id="1")
    analysed: list[str] = []
    tasks.configure(Runtime(settings, store, analyze=lambda s, st, t: analysed.append(t.name)))
    try:
        now = utcnow()
        store.upsert(AnalysisRequest, tenant, [{"requested_at": now, "due_at": now + timedelta(hours=1)}])
        assert tasks.due_analyses_job() == []
        store.upsert(AnalysisRequest, tenant, [{"requested_at": now, "due_at": now - timedelta(seconds=1)}])
        assert tasks.due_analyses_job() == ["hub"]
        assert tasks.due_analyses_job() == []
        assert analysed == ["hub"]
    finally:
        tasks.configure(None)
