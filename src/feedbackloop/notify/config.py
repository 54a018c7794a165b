"""Where a tenant's alerts go: ``tenant.settings["alerts"]`` plus secrets from the encrypted credentials.

```json
{"alerts": {"slack_webhook_url": "https://hooks.slack.com/services/…",
            "smtp": {"host": "smtp.example.com", "port": 587, "starttls": true,
                     "username": "alerts@example.com", "from": "alerts@example.com"},
            "to": ["sales-ops@example.com"], "log": true}}
```

Secrets belong in the credentials store (encrypted at rest), not in the settings: the Slack webhook URL
(it carries a token) as credential ``alerts_slack_webhook_url`` and the SMTP password as
``alerts_smtp_password``. A URL in the settings is accepted too (and used when no credential is stored).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from feedbackloop.crypto import SecretBox
from feedbackloop.errors import ConfigError
from feedbackloop.store import Store, TenantRef

__all__ = ["SLACK_CREDENTIAL", "SMTP_CREDENTIAL", "AlertsConfig", "SmtpConfig", "alerts_config"]

SLACK_CREDENTIAL = "alerts_slack_webhook_url"
SMTP_CREDENTIAL = "alerts_smtp_password"


@dataclass(frozen=True)
class SmtpConfig:
    """An SMTP relay; the password, when any, comes from the credentials store."""

    host: str
    port: int = 25
    starttls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "feedbackloop@localhost"
    timeout: float = 10.0


@dataclass(frozen=True)
class AlertsConfig:
    """The channels configured for one tenant (any subset; none means nothing is delivered)."""

    slack_webhook_url: str | None = field(default=None, repr=False)
    smtp: SmtpConfig | None = None
    to: tuple[str, ...] = ()
    log: bool = False

    @property
    def channels(self) -> list[str]:
        out = ["slack"] if self.slack_webhook_url else []
        if self.smtp is not None and self.to:
            out.append("email")
        if self.log:
            out.append("log")
        return out


def _smtp(raw: Any, tenant: str, password: str | None) -> SmtpConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or not raw.get("host"):
        raise ConfigError(
            f"tenant {tenant!r}: alerts.smtp needs at least a host, e.g. {{'host': 'smtp.x.com'}}"
        )
    try:
        return SmtpConfig(
            host=str(raw["host"]),
            port=int(raw.get("port", 587 if raw.get("starttls") else 25)),
            starttls=bool(raw.get("starttls", False)),
            username=raw.get("username"),
            password=password,
            sender=str(raw.get("from") or raw.get("username") or "feedbackloop@localhost"),
            timeout=float(raw.get("timeout", 10.0)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"tenant {tenant!r}: invalid alerts.smtp setting: {exc}") from None


def _default_box() -> SecretBox:
    from feedbackloop.config.settings import load_settings
    from feedbackloop.crypto import secret_box

    return secret_box(load_settings())


def alerts_config(store: Store, tenant: TenantRef, box: SecretBox | None = None) -> AlertsConfig:
    """The tenant's alert channels; secrets are decrypted with ``box`` (default: the configured key)."""
    raw = tenant.settings.get("alerts") or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"tenant {tenant.name!r}: settings.alerts must be an object")
    if not raw:
        return AlertsConfig()
    box = box or _default_box()
    slack = store.get_credential(tenant, SLACK_CREDENTIAL, box)
    password = store.get_credential(tenant, SMTP_CREDENTIAL, box)
    to = raw.get("to") or []
    if isinstance(to, str):
        to = [to]
    return AlertsConfig(
        slack_webhook_url=slack or raw.get("slack_webhook_url") or None,
        smtp=_smtp(raw.get("smtp"), tenant.name, password),
        to=tuple(str(t) for t in to),
        log=bool(raw.get("log", False)),
    )
