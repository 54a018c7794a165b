"""HubSpot connector: client (auth, retry, limiter, cached SDK API objects), OAuth, streams and mapping,
install and write-back. ``create_connector(settings, store, tenant)`` is what the registry calls.

The connector is imported on first use (:pep:`562`), and the client's default lives here: the CLI shows
it in its ``--help`` without importing the client's HTTP stack, nor the connector and, through it, the
engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from feedbackloop.lazy import lazy_exports

if TYPE_CHECKING:
    from feedbackloop.connectors.hubspot.connector import HubSpotConnector, create_connector

__all__ = ["DEFAULT_BASE_URL", "HubSpotConnector", "create_connector"]

DEFAULT_BASE_URL = "https://api.hubapi.com"


__getattr__ = lazy_exports(__name__, {"HubSpotConnector": "connector", "create_connector": "connector"})
