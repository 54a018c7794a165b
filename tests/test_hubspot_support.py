"""Helpers for the HubSpot connector tests: a sandbox over real HTTP and a tenant connected to it.

Nothing here patches connector internals: the connector talks to the sandbox through hubspot-api-client
exactly as it would to api.hubapi.com; only tenant settings (base URL, limits, retry waits) differ.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import requests

from feedbackloop.config.settings import Settings
from feedbackloop.connectors.hubspot import HubSpotConnector, create_connector
from feedbackloop.connectors.hubspot.oauth import store_connection
from feedbackloop.crypto import secret_box
from feedbackloop.sandbox.runner import SandboxHandle, start_sandboxes
from feedbackloop.sandbox.world import WorldConfig
from feedbackloop.store import Store, TenantRef

__all__ = ["FAST", "Portal", "admin", "connect", "sandbox", "stored_state"]

#: Limits high enough that tests are not paced by HubSpot's (tests of the limiter set their own).
FAST = {"burst_limit": 1_000_000, "search_limit": 1_000_000}
_hub_ids = itertools.count(40_000_000 + os.getpid() % 1000 * 10_000)


@dataclass
class Portal:
    handle: SandboxHandle

    @property
    def url(self) -> str:
        return self.handle.hubspot_url

    @property
    def admin(self) -> str:
        return f"{self.url}/_sandbox"

    def get(self, path: str) -> Any:
        response = requests.get(f"{self.admin}/{path}", timeout=30)
        response.raise_for_status()
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = requests.post(f"{self.admin}/{path}", json=body, timeout=60)
        response.raise_for_status()
        return response.json()


@contextmanager
def sandbox(deals: int = 600, seed: int = 1, **options: Any) -> Iterator[Portal]:
    """A HubSpot sandbox on a free port over a fresh world (unique hub id: limiters are per portal).

    ``options`` that are :class:`WorldConfig` fields shape the world; the rest are HubSpotOptions.
    """
    fields = WorldConfig.__dataclass_fields__
    world = {k: v for k, v in options.items() if k in fields}
    merged = {**FAST, "hub_id": next(_hub_ids), **{k: v for k, v in options.items() if k not in fields}}
    config = WorldConfig(seed=seed, deals=deals, **world)
    enterprise = bool(merged.pop("enterprise", False))
    with start_sandboxes(config, 0, None, enterprise=enterprise, hubspot_options=merged) as handle:
        yield Portal(handle)


def admin(portal: Portal) -> str:
    return portal.admin


def connect(
    settings: Settings,
    store: Store,
    portal: Portal,
    name: str = "acme",
    *,
    limits: dict[str, float] | None = None,
    retry: dict[str, float] | None = None,
    **extra: Any,
) -> tuple[TenantRef, HubSpotConnector]:
    """A tenant connected to ``portal`` with its private-app token, and its connector."""
    hub_id = portal.handle.hubspot.options.hub_id
    tenant = store_connection(
        store,
        secret_box(settings),
        name,
        base_url=portal.url,
        hub_id=hub_id,
        private_token=portal.handle.token,
    )
    conf = {
        **tenant.settings,
        "limits": limits or {"burst": 1_000_000, "search": 1_000_000},
        "retry": retry or {"wait_scale": 0.01, "base_delay": 0.01, "max_delay": 0.5, "timeout": 10},
        **extra,
    }
    tenant = store.update_tenant(tenant, settings=conf)
    return tenant, create_connector(settings, store, tenant)


def stored_state(store: Store, tenant: TenantRef) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored deals and messages, sorted, without bookkeeping columns (for equality checks)."""
    deals = store.deals_frame(tenant).drop(columns=["crm_updated_at"], errors="ignore")
    messages = store.messages_frame(tenant)
    return (
        deals.sort_values("deal_id").reset_index(drop=True),
        messages.sort_values("message_id").reset_index(drop=True),
    )
