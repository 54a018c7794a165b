"""The Salesforce connector: client (timeouts, retries, refresh, quota guard), OAuth, sync, install and
write-back over simple-salesforce. The registry builds it through :func:`create_connector`.

The connector is imported on first use (:pep:`562`), and the client's default lives here: the CLI shows
it in its ``--help`` without importing the client's HTTP stack, nor the connector and, through it, the
engine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from feedbackloop.connectors.salesforce.connector import SalesforceConnector, create_connector

__all__ = ["DEFAULT_API_VERSION", "SalesforceConnector", "create_connector"]

DEFAULT_API_VERSION = "62.0"


def __getattr__(name: str) -> Any:
    """The connector module's names, imported on first access."""
    if name in ("SalesforceConnector", "create_connector"):
        from feedbackloop.connectors.salesforce import connector

        return getattr(connector, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
