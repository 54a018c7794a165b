"""The Salesforce connector: client (timeouts, retries, refresh, quota guard), OAuth, sync, install and
write-back over simple-salesforce. The registry builds it through :func:`create_connector`.

The connector is imported on first use (:pep:`562`), and the client's default lives here: the CLI shows
it in its ``--help`` without importing the client's HTTP stack, nor the connector and, through it, the
engine."""

from __future__ import annotations

from typing import TYPE_CHECKING

from feedbackloop.lazy import lazy_exports

if TYPE_CHECKING:
    from feedbackloop.connectors.salesforce.connector import SalesforceConnector, create_connector

__all__ = ["DEFAULT_API_VERSION", "SalesforceConnector", "create_connector"]

DEFAULT_API_VERSION = "62.0"


__getattr__ = lazy_exports(__name__, {"SalesforceConnector": "connector", "create_connector": "connector"})
