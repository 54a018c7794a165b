"""Alert delivery: Slack incoming webhooks, e-mail (SMTP) and the log, once per condition and period."""

from __future__ import annotations

from feedbackloop.notify.config import (
    SLACK_CREDENTIAL,
    SMTP_CREDENTIAL,
    AlertsConfig,
    SmtpConfig,
    alerts_config,
)
from feedbackloop.notify.deliver import DeliveryReport, deliver_alerts, pending_alerts

__all__ = [
    "SLACK_CREDENTIAL",
    "SMTP_CREDENTIAL",
    "AlertsConfig",
    "DeliveryReport",
    "SmtpConfig",
    "alerts_config",
    "deliver_alerts",
    "pending_alerts",
]
