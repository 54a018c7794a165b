"""HubSpot connector: client (auth, retry, limiter, cached SDK API objects), OAuth, streams and mapping,
install and write-back. ``create_connector(settings, store, tenant)`` is what the registry calls."""

from __future__ import annotations

from feedbackloop.connectors.hubspot.connector import HubSpotConnector, create_connector

__all__ = ["HubSpotConnector", "create_connector"]
