"""Helpers of the service tests: a service app on the test store, signed HubSpot posts, SOAP bodies."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from pydantic import SecretStr
from werkzeug.test import TestResponse

from feedbackloop.config.settings import Settings
from feedbackloop.store import Store
from feedbackloop.webhooks import create_app
from feedbackloop.webhooks.signature import sign_v3

SECRET = "test-client-secret"
PORTAL = 4242
ORG_ID = "00D000000000001AAA"
NOW = 1_780_000_000.0  # a fixed clock (seconds)
PUBLIC = "https://fl.example.com"


def service_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "hubspot_client_secret": SecretStr(SECRET),
            "hubspot_client_id": "client-id",
            "salesforce_client_id": "sf-client-id",
            "salesforce_client_secret": SecretStr("sf-secret"),
            "public_url": PUBLIC,
        }
    )


def make_app(settings: Settings, store: Store, clock: float = NOW) -> Flask:
    app = create_app(service_settings(settings), store=store, clock=lambda: clock)
    app.testing = True
    return app


def js(response: TestResponse) -> Any:
    """A response's JSON body (typed loosely for the assertions)."""
    return response.json


def hs_event(n: int, *, portal: int = PORTAL, prop: str = "dealstage", **extra: Any) -> dict[str, Any]:
    return {
        "eventId": 1000 + n,
        "subscriptionId": 2_100_002,
        "portalId": portal,
        "appId": 77,
        "occurredAt": 1_779_999_000_000 + n,
        "subscriptionType": "deal.propertyChange",
        "attemptNumber": 0,
        "objectId": 5000 + n,
        "propertyName": prop,
        "propertyValue": "closedwon",
        "changeSource": "CRM_UI",
        "sourceId": "userId:1",
        **extra,
    }


def post_hubspot(
    client: FlaskClient,
    body: bytes | str | list[Any],
    *,
    timestamp: float = NOW,
    path: str = "/webhooks/hubspot",
    signed_uri: str | None = None,
    signed_body: bytes | None = None,
    signed_timestamp: str | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> TestResponse:
    raw = json.dumps(body).encode() if isinstance(body, list) else body
    raw = raw.encode() if isinstance(raw, str) else raw
    ts = str(int(timestamp * 1000))
    signature = sign_v3(
        SECRET,
        "POST",
        signed_uri or PUBLIC + path,
        raw if signed_body is None else signed_body,
        signed_timestamp or ts,
    )
    sent = {
        "X-HubSpot-Signature-v3": signature,
        "X-HubSpot-Request-Timestamp": ts,
        "Content-Type": content_type,
        **(headers or {}),
    }
    return client.post(path, data=raw, headers={k: v for k, v in sent.items() if v})


def soap(notes: list[tuple[str, str]], org: str = ORG_ID, stage: str = "Closed Won") -> bytes:
    items = "".join(
        f"<Notification><Id>{nid}</Id>"
        '<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{oid}</sf:Id><sf:StageName>{stage}</sf:StageName><sf:IsClosed>true</sf:IsClosed>"
        "</sObject></Notification>"
        for nid, oid in notes
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k000000000001</ActionId>"
        '<SessionId xsi:nil="true"/>'
        f"{items}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()
