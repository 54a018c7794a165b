"""Connectors: everything that reads from or writes to a source of deals (CSV files, HubSpot, Salesforce).

Nothing outside this package knows a CRM's (or a CSV file's) field names.
"""

from __future__ import annotations
