"""APScheduler 3 wiring: a persistent job store on the service's database, per-tenant jobs.

Per tenant: ``sync`` (every ``sync_minutes``), ``analyze`` + write-back (every ``analyze_minutes``), a
weekly ``review``; globally: the debounced re-analyses due from new outcomes and a refresh that adds
jobs for new tenants. Each job runs one instance at a time (``max_instances=1``, ``coalesce``); across
processes the database lock in ``jobs.locks`` keeps two schedulers from running the same tenant's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from feedbackloop.jobs import tasks
from feedbackloop.jobs.tasks import Runtime

__all__ = ["ScheduleConfig", "build_scheduler", "ensure_tenant_jobs", "refresh_job", "start"]

_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 300}


@dataclass(frozen=True)
class ScheduleConfig:
    sync_minutes: float = 15
    analyze_minutes: float = 60
    due_check_seconds: float = 30
    refresh_minutes: float = 5
    review_day: str = "mon"
    review_hour: int = 6


def build_scheduler(rt: Runtime, config: ScheduleConfig | None = None) -> BackgroundScheduler:
    """A background scheduler with its job store in the service database (table ``apscheduler_jobs``)."""
    config = config or ScheduleConfig()
    tasks.configure(rt)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=rt.store.db.engine)},
        job_defaults=_DEFAULTS,
        timezone="UTC",
    )
    scheduler.add_job(
        "feedbackloop.jobs.tasks:due_analyses_job",
        "interval",
        seconds=config.due_check_seconds,
        id="due-analyses",
        replace_existing=True,
    )
    scheduler.add_job(
        "feedbackloop.jobs.scheduler:refresh_job",
        "interval",
        minutes=config.refresh_minutes,
        id="refresh-tenants",
        replace_existing=True,
        kwargs=dict(config.__dict__),
    )
    ensure_tenant_jobs(scheduler, rt, config)
    return scheduler


def ensure_tenant_jobs(scheduler: BackgroundScheduler, rt: Runtime, config: ScheduleConfig) -> list[str]:
    """Add (or update) the periodic jobs of every CRM tenant; returns the job ids."""
    ids = []
    for tenant in rt.store.list_tenants():
        if tenant.provider not in ("hubspot", "salesforce"):
            continue
        name = tenant.name
        specs: list[tuple[str, str, dict[str, Any], str]] = [
            ("sync", "feedbackloop.jobs.tasks:sync_job", {"minutes": config.sync_minutes}, "interval"),
            (
                "analyze",
                "feedbackloop.jobs.tasks:analyze_job",
                {"minutes": config.analyze_minutes},
                "interval",
            ),
            (
                "review",
                "feedbackloop.jobs.tasks:review_job",
                {"day_of_week": config.review_day, "hour": config.review_hour},
                "cron",
            ),
        ]
        for kind, func, trigger_args, trigger in specs:
            job_id = f"{kind}:{name}"
            scheduler.add_job(func, trigger, args=[name], id=job_id, replace_existing=True, **trigger_args)
            ids.append(job_id)
    return ids


def refresh_job(**config: Any) -> list[str]:
    """Pick up tenants installed since the scheduler started (runs inside the scheduler)."""
    rt = tasks.runtime()
    scheduler = _CURRENT.get("scheduler")
    if scheduler is None:
        return []
    return ensure_tenant_jobs(scheduler, rt, ScheduleConfig(**config))


_CURRENT: dict[str, BackgroundScheduler] = {}


def start(scheduler: BackgroundScheduler) -> None:
    """Start the scheduler and remember it for the refresh job."""
    _CURRENT["scheduler"] = scheduler
    scheduler.start()
