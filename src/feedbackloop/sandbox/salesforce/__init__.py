"""The emulated Salesforce org: REST data API (SOQL, describe, collections), Bulk API 2.0 ingest, Tooling
API installs, OAuth web-server flow with PKCE, outbound messages, served over HTTPS with a generated CA.

``create_salesforce_app(world, lock, stats=…, faults=…, **options)`` builds the Flask app;
``make_tls_context(directory)`` makes the certificate; ``start_salesforce(...)`` does both and serves.
"""

from __future__ import annotations

from feedbackloop.sandbox.salesforce.app import SalesforceSandbox, create_salesforce_app, sandbox_of
from feedbackloop.sandbox.salesforce.org import OrgOptions
from feedbackloop.sandbox.salesforce.outbound import OutboundSender, build_notifications, is_ack
from feedbackloop.sandbox.salesforce.server import SalesforceServer, start_salesforce, trusting_session
from feedbackloop.sandbox.salesforce.tls import make_tls_context

__all__ = [
    "OrgOptions",
    "OutboundSender",
    "SalesforceSandbox",
    "SalesforceServer",
    "build_notifications",
    "create_salesforce_app",
    "is_ack",
    "make_tls_context",
    "sandbox_of",
    "start_salesforce",
    "trusting_session",
]
