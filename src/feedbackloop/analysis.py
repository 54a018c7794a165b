"""Running the engine over a tenant's stored data: the one path the CLI, the demo and the jobs share.

The engine itself is pure (:func:`feedbackloop.engine.pipeline.run_analysis`); this module loads the
tenant's frames and the previous run's state, and records the run, its decisions and the engine's
status changes (pinned templates are never changed). The engine is imported only when it is needed, so
that the frames can load while it is (see :func:`compute_analysis`).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from feedbackloop.analysis_input import (
    ENGINE_DEAL_COLUMNS,
    ENGINE_MESSAGE_COLUMNS,
    ENGINE_TEMPLATE_COLUMNS,
    SHARED_KEY,
)
from feedbackloop.errors import FeedbackloopError, UsageError
from feedbackloop.store import Store, TenantRef, utcnow
from feedbackloop.store.models import DealRow, MessageRow, TemplateRow
from feedbackloop.store.runs import latest_run_result, record_run

if TYPE_CHECKING:
    from feedbackloop.engine.result import AnalysisResult
    from feedbackloop.engine.settings import EngineSettings
    from feedbackloop.sqlite_arrow import Reader

__all__ = [
    "ENGINE_DEAL_COLUMNS",
    "ENGINE_MESSAGE_COLUMNS",
    "ENGINE_TEMPLATE_COLUMNS",
    "analyze_tenant",
    "compute_analysis",
    "engine_settings",
    "record_analysis",
]

log = logging.getLogger(__name__)


def engine_settings(tenant: TenantRef) -> EngineSettings:
    """The tenant's engine overrides (``settings["engine"]``) over the defaults."""
    from feedbackloop.engine.settings import EngineSettings

    overrides = tenant.settings.get("engine") or {}
    try:
        return EngineSettings(**overrides)
    except ValueError as exc:
        raise UsageError(f"invalid engine settings for tenant {tenant.name!r}: {exc}") from None


def compute_analysis(
    store: Store, tenant: TenantRef, as_of: datetime, seed: int = 0, *, reader: Reader | None = None
) -> AnalysisResult:
    """The engine's result over the tenant's data as of ``as_of`` (nothing recorded).

    The frames load in a background thread while this one imports the engine (scipy.stats, statsmodels:
    ~0.7 s of CPU); on a large SQLite store they are read by a child process on the other core.
    ``reader``: that child, started early (:func:`feedbackloop.analysis_input.start_reading`); it is
    used if it read this tenant's tables, else discarded.
    """
    wanted = [
        (DealRow, ENGINE_DEAL_COLUMNS),
        (MessageRow, ENGINE_MESSAGE_COLUMNS),
        (TemplateRow, ENGINE_TEMPLATE_COLUMNS),
    ]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="analysis-frames") as pool:
        loading = pool.submit(store.frames, tenant, wanted, shared_key=SHARED_KEY, reader=reader)
        from feedbackloop.engine.pipeline import run_analysis
        from feedbackloop.engine.result import PreviousState

        previous = PreviousState.from_result(latest_run_result(store, tenant))
        deals, messages, templates = loading.result()
    return run_analysis(
        deals,
        messages,
        templates,
        engine_settings(tenant),
        as_of,
        np.random.default_rng(seed),
        previous,
    )


def record_analysis(store: Store, tenant: TenantRef, data: dict[str, Any], started_at: datetime) -> int:
    """Record the run and its decisions, then apply the engine's status changes; returns the run id."""
    as_of = datetime.fromisoformat(data["as_of"])
    run_id = record_run(
        store, tenant, as_of=as_of, started_at=started_at, result=data, decisions=data["templates"]
    )
    known = set(store.templates_frame(tenant)["template_id"].astype(str))
    for t in data["templates"]:
        if not t["status_changed"] or t["pinned"]:
            continue
        if t["template_id"] not in known:
            log.warning("template %s is not in the store; its status was not saved", t["template_id"])
            continue
        store.set_template_status(
            tenant, t["template_id"], t["status"], actor="engine", reason=t["reason"], run_id=run_id
        )
    return run_id


def analyze_tenant(
    store: Store,
    tenant: TenantRef,
    as_of: datetime,
    *,
    seed: int = 0,
    dry_run: bool = False,
    deliver: bool = True,
    reader: Reader | None = None,
) -> dict[str, Any]:
    """Analyze and (unless ``dry_run``) record; returns the analyze JSON (with ``run_id`` when recorded).
    ``reader`` as in :func:`compute_analysis`.

    With ``deliver`` (and not ``dry_run``) the run's new alerts go to the tenant's configured channels
    (:mod:`feedbackloop.notify`; nothing when none is configured), once per channel, key and period. A
    failed delivery is logged and retried by the next runs within a week; it never fails the analysis.
    """
    started_at = utcnow()
    data = compute_analysis(store, tenant, as_of, seed, reader=reader).to_dict()
    if not dry_run:
        data["run_id"] = record_analysis(store, tenant, data, started_at)
        if deliver and tenant.settings.get("alerts"):
            from feedbackloop.notify import deliver_alerts, pending_alerts

            try:
                deliver_alerts(store, tenant, pending_alerts(store, tenant))
            except FeedbackloopError as exc:  # e.g. a broken alerts setting: `feedbackloop doctor` says so
                log.warning("alerts of tenant %s not delivered: %s", tenant.name, exc)
    return data
