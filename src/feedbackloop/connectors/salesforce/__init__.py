"""The Salesforce connector: client (timeouts, retries, refresh, quota guard), OAuth, sync, install and
write-back over simple-salesforce. The registry builds it through :func:`create_connector`."""

from __future__ import annotations

from feedbackloop.connectors.salesforce.connector import SalesforceConnector, create_connector

__all__ = ["SalesforceConnector", "create_connector"]
