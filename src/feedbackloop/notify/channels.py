"""The channels an alert can go out on: a Slack incoming webhook, e-mail over SMTP, or the log.

Each ``send`` raises :class:`~feedbackloop.errors.RemoteError` when the receiver refuses or cannot be
reached, so the caller can record the failure and try again on the next run.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

import requests

from feedbackloop.errors import RemoteError
from feedbackloop.notify.config import SmtpConfig

__all__ = ["alert_text", "send_email", "send_log", "send_slack"]

log = logging.getLogger("feedbackloop.alerts")

_SHOWN = ("recent_win_rate", "historical_win_rate", "relative_change", "recent_share", "historical_share",
          "p_value", "q_value", "recent_deals", "historical_deals", "action", "reason")  # fmt: skip


def _fmt(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def alert_text(tenant: str, alert: dict[str, Any]) -> tuple[str, str]:
    """A one-line subject and a plain-text body with the numbers behind the alert."""
    subject = f"[feedbackloop] {tenant}: {alert.get('title')} ({alert.get('subject')})"
    data = alert.get("data") or {}
    lines = [
        f"{alert.get('title')} — {alert.get('subject')}",
        f"severity: {alert.get('severity')}, period: {alert.get('period')}, key: {alert.get('key')}",
        *(f"{k}: {_fmt(data[k])}" for k in _SHOWN if data.get(k) is not None),
    ]
    return subject, "\n".join(lines)


def send_slack(url: str, tenant: str, alert: dict[str, Any], timeout: float = 10.0) -> None:
    """POST the alert as a Slack incoming-webhook JSON message (``text`` plus a section block)."""
    subject, body = alert_text(tenant, alert)
    payload = {"text": subject, "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": body}}]}
    try:
        response = requests.post(url, json=payload, timeout=timeout)
    except requests.RequestException as exc:
        raise RemoteError(f"Slack webhook unreachable: {exc.__class__.__name__}") from None
    if response.status_code >= 300:
        raise RemoteError(f"Slack webhook answered {response.status_code}: {response.text[:200]}")


def send_email(smtp: SmtpConfig, to: tuple[str, ...], tenant: str, alert: dict[str, Any]) -> None:
    """Send the alert by e-mail (STARTTLS and login when configured)."""
    subject, body = alert_text(tenant, alert)
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = subject, smtp.sender, ", ".join(to)
    message.set_content(body)
    try:
        with smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username and smtp.password:
                client.login(smtp.username, smtp.password)
            client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise RemoteError(f"SMTP {smtp.host}:{smtp.port} failed: {exc.__class__.__name__}: {exc}") from None


def send_log(tenant: str, alert: dict[str, Any]) -> None:
    """Write the alert to the log (WARNING), e.g. for a log shipper to pick up."""
    subject, body = alert_text(tenant, alert)
    log.warning("%s\n%s", subject, body)
