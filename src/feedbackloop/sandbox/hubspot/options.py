"""The knobs of one emulated HubSpot portal (tier, limits, credentials, which optional properties exist)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["OPTIONAL_EMAIL_PROPERTIES", "HubSpotOptions"]

# Email properties that exist in most portals but are not in HubSpot's official docs (reference §2.3):
# a portal can be set up without them so that connectors can prove they degrade gracefully.
OPTIONAL_EMAIL_PROPERTIES = (
    "hs_sequence_id",
    "hs_template_id",
    "hs_email_open_count",
    "hs_email_click_count",
    "hs_email_reply_count",
    "hs_email_sent_count",
)


@dataclass
class HubSpotOptions:
    """Settings of the emulated portal; the defaults are what a real Professional portal does.

    ``clock`` is wall time (token expiry, rate-limit windows, webhook timestamps); tests inject a fake one.
    """

    hub_id: int = 24681357
    app_id: int = 1357924
    client_id: str = "sandbox-client"
    client_secret: str = "sandbox-secret"
    private_token: str = "sandbox-token"
    enterprise: bool = False
    missing_email_properties: tuple[str, ...] = ()
    token_ttl_seconds: int = 1800
    burst_limit: int = 110
    burst_window_seconds: float = 10.0
    search_limit: int = 5
    search_window_seconds: float = 1.0
    search_result_cap: int = 10_000
    association_page_size: int = 100
    webhook_url: str | None = None
    webhook_retries: int = 10
    webhook_backoff_seconds: float = 0.2
    webhook_timeout_seconds: float = 5.0
    fault_seed: int = 0
    clock: Callable[[], float] = field(default=time.time)
