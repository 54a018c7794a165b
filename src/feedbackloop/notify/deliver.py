"""Delivering alerts once per channel, condition and period, with a ledger kept in the store.

The engine already emits each alert key once per period; the ledger makes delivery itself idempotent
(a retried job, a second process, or alerts re-sent from an earlier run are not delivered twice) and lets
a failed channel be retried on the next run without repeating the channels that worked. It lives as JSON
in ``optimizer_state`` under ``alerts_delivered``: ``{"slack|kind:subject|2026-W48": sent_at, …}``;
entries older than :data:`KEEP_DAYS` are dropped so it stays small.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from feedbackloop.crypto import SecretBox
from feedbackloop.errors import FeedbackloopError
from feedbackloop.notify.channels import send_email, send_log, send_slack
from feedbackloop.notify.config import AlertsConfig, alerts_config
from feedbackloop.store import Store, TenantRef, utcnow
from feedbackloop.store.models import AnalysisRun, OptimizerStateRow

__all__ = ["KEEP_DAYS", "LEDGER_KEY", "RETRY_DAYS", "DeliveryReport", "deliver_alerts", "pending_alerts"]

log = logging.getLogger(__name__)

LEDGER_KEY = "alerts_delivered"
KEEP_DAYS = 120
RETRY_DAYS = 8
_RETRY_RUNS = 5


@dataclass
class DeliveryReport:
    """What was sent, skipped as already sent, and failed (channel, key, period[, reason])."""

    sent: list[tuple[str, str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    failed: list[tuple[str, str, str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed}


def pending_alerts(store: Store, tenant: TenantRef, now: datetime | None = None) -> list[dict[str, Any]]:
    """Alerts of the tenant's recent recorded runs (started within :data:`RETRY_DAYS`), newest first.

    The engine emits a key once per period, so a channel that failed would never see it again; handing
    the recent runs' alerts to :func:`deliver_alerts` retries it, and the ledger keeps the rest quiet.
    """
    since = (now or utcnow()) - timedelta(days=RETRY_DAYS)
    with store.db.session() as s:
        results = s.scalars(
            sa.select(AnalysisRun.result)
            .where(AnalysisRun.tenant_id == tenant.id, AnalysisRun.kind == "analyze")
            .where(AnalysisRun.started_at >= since)
            .order_by(AnalysisRun.id.desc())
            .limit(_RETRY_RUNS)
        ).all()
    return [dict(a) for r in results if r for a in (r.get("alerts") or [])]  # type: ignore[attr-defined]


def _senders(config: AlertsConfig, tenant: str) -> dict[str, Callable[[dict[str, Any]], None]]:
    senders: dict[str, Callable[[dict[str, Any]], None]] = {}
    if config.slack_webhook_url:
        url = config.slack_webhook_url
        senders["slack"] = lambda a: send_slack(url, tenant, a)
    if config.smtp is not None and config.to:
        smtp, to = config.smtp, config.to
        senders["email"] = lambda a: send_email(smtp, to, tenant, a)
    if config.log:
        senders["log"] = lambda a: send_log(tenant, a)
    return senders


def deliver_alerts(
    store: Store,
    tenant: TenantRef,
    alerts: Iterable[dict[str, Any]],
    *,
    box: SecretBox | None = None,
    config: AlertsConfig | None = None,
    now: datetime | None = None,
) -> DeliveryReport:
    """Send each alert on each configured channel unless the ledger says it was sent this period."""
    config = config or alerts_config(store, tenant, box)
    senders = _senders(config, tenant.name)
    report = DeliveryReport()
    alerts = list(alerts)
    if not senders or not alerts:
        return report
    now = now or utcnow()
    ledger = store.get_state(OptimizerStateRow, tenant, LEDGER_KEY)
    cutoff = (now - timedelta(days=KEEP_DAYS)).isoformat()
    kept = {k: v for k, v in ledger.items() if str(v) >= cutoff}
    changed, ledger = len(kept) != len(ledger), kept
    for alert in alerts:
        key, period = str(alert.get("key")), str(alert.get("period"))
        for channel, send in senders.items():
            entry = f"{channel}|{key}|{period}"
            if entry in ledger:
                report.skipped.append((channel, key, period))
                continue
            try:
                send(alert)
            except FeedbackloopError as exc:
                log.warning("alert %s not delivered by %s for tenant %s: %s", key, channel, tenant.name, exc)
                report.failed.append((channel, key, period, str(exc)))
                continue
            ledger[entry] = now.isoformat()
            changed = True
            report.sent.append((channel, key, period))
    if changed:
        store.put_state(OptimizerStateRow, tenant, LEDGER_KEY, ledger)
    return report
