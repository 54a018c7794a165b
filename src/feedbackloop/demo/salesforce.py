"""The demo's Salesforce half: connect the sandbox org and read back what was written."""

from __future__ import annotations

from textwrap import shorten
from typing import Any

import requests

from feedbackloop.config.settings import Settings
from feedbackloop.connectors.salesforce.client import DEFAULT_API_VERSION
from feedbackloop.connectors.salesforce.connect import connect_tenant
from feedbackloop.connectors.salesforce.oauth import TokenSet
from feedbackloop.store import Store, TenantRef

__all__ = ["connect_salesforce_tenant", "salesforce_examples"]


def connect_salesforce_tenant(settings: Settings, store: Store, handle: Any) -> TenantRef:
    """Connect the sandbox org (session token, the sandbox's CA) as tenant ``acme-salesforce``."""
    tokens = TokenSet(access_token=handle.token, instance_url=str(handle.salesforce_url).rstrip("/"))
    tenant: TenantRef = connect_tenant(
        settings, store, "acme-salesforce", tokens, ca_bundle=str(handle.ca_path)
    )
    return tenant


def salesforce_examples(handle: Any) -> list[str]:
    """A few opportunities and template-score records as Salesforce now shows them (SOQL over REST)."""
    session = requests.Session()
    session.trust_env = False  # this machine's REQUESTS_CA_BUNDLE would override the sandbox's CA
    session.verify = str(handle.ca_path)
    base = f"{str(handle.salesforce_url).rstrip('/')}/services/data/v{DEFAULT_API_VERSION}/query"

    def query(soql: str) -> list[dict[str, Any]]:
        response = session.get(
            base, params={"q": soql}, headers={"Authorization": f"Bearer {handle.token}"}, timeout=30
        )
        response.raise_for_status()
        return list(response.json()["records"])

    lines = [
        f"{r['Name']}: {shorten(str(r['FL_Template_Scores__c']), 90, placeholder=' …')}"
        for r in query(
            "SELECT Name, FL_Template_Scores__c FROM Opportunity WHERE FL_Template_Scores__c != null LIMIT 2"
        )
    ]
    lines += [
        f"Template_Score__c {r['Template_Name__c']}: score {r['Score__c']}, status {r['Status__c']}"
        for r in query(
            "SELECT Template_Name__c, Score__c, Status__c FROM Template_Score__c "
            "ORDER BY Score__c DESC LIMIT 2"
        )
    ]
    return lines
