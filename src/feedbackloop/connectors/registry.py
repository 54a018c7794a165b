"""Which connector serves a tenant: looked up by the tenant's provider, imported on first use.

Each provider package exposes ``create_connector(settings, store, tenant) -> Connector``.
"""

from __future__ import annotations

import importlib
from typing import Protocol

from feedbackloop.config.settings import Settings
from feedbackloop.connectors.base import Connector
from feedbackloop.errors import UsageError
from feedbackloop.store import Store, TenantRef

__all__ = ["PROVIDERS", "build_connector"]

PROVIDERS = {
    "hubspot": "feedbackloop.connectors.hubspot",
    "salesforce": "feedbackloop.connectors.salesforce",
}


class _Factory(Protocol):
    def __call__(self, settings: Settings, store: Store, tenant: TenantRef) -> Connector: ...


def build_connector(settings: Settings, store: Store, tenant: TenantRef) -> Connector:
    """The connector for ``tenant``; a CSV tenant has none (it is fed by `feedbackloop import`)."""
    module_name = PROVIDERS.get(tenant.provider)
    if module_name is None:
        raise UsageError(
            f"tenant {tenant.name!r} is fed by CSV import and has no CRM connection; "
            "connect one with `feedbackloop connect hubspot|salesforce`"
        )
    module = importlib.import_module(module_name)
    factory: _Factory = module.create_connector
    return factory(settings, store, tenant)
