"""Salesforce outbound messages: secret URL, org check, safe SOAP parsing, Ack, dedupe by id."""

from __future__ import annotations

import pytest

from feedbackloop.store import Store
from feedbackloop.store.models import InboxEvent
from feedbackloop.webhooks.salesforce import new_outbound_secret, same_org
from feedbackloop.webhooks.soap import parse_outbound
from tests.service_support import ORG_ID, js, make_app, soap

pytestmark = pytest.mark.store

XML = {"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'}


@pytest.fixture
def secret(store: Store) -> str:
    tenant = store.create_tenant("sf", provider="salesforce", external_id=ORG_ID)
    return new_outbound_secret(store, tenant)


@pytest.fixture
def client(settings, store: Store, secret: str):
    return make_app(settings, store).test_client()


def stored(store: Store) -> int:
    tenant = store.get_tenant("sf")
    assert tenant is not None
    return store.count(InboxEvent, tenant)


def test_notifications_are_acked_and_stored_once(client, store, secret):
    body = soap([("04l001", "006A"), ("04l002", "006B")])
    response = client.post(f"/webhooks/salesforce/{secret}", data=body, headers=XML)
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert b"<Ack>true</Ack>" in response.data
    assert stored(store) == 2
    # Redelivered out of order with one new notification: only the new one is stored.
    again = soap([("04l003", "006C"), ("04l002", "006B"), ("04l001", "006A")])
    assert client.post(f"/webhooks/salesforce/{secret}", data=again, headers=XML).status_code == 200
    assert stored(store) == 3


def test_secret_is_stored_hashed(store, secret):
    tenant = store.get_tenant("sf")
    assert tenant is not None
    assert secret not in str(tenant.settings)


def test_wrong_secret_is_404(client, store):
    response = client.post("/webhooks/salesforce/nope", data=soap([("04l001", "006A")]), headers=XML)
    assert response.status_code == 404
    assert stored(store) == 0


def test_other_org_is_403(client, store, secret):
    body = soap([("04l001", "006A")], org="00D000000000999AAA")
    response = client.post(f"/webhooks/salesforce/{secret}", data=body, headers=XML)
    assert response.status_code == 403
    assert stored(store) == 0


def test_org_id_15_and_18_characters_match():
    assert same_org(ORG_ID, ORG_ID[:15])
    assert not same_org(ORG_ID, ORG_ID.lower())
    assert not same_org(ORG_ID, None)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>&lol3;</OrganizationId>
</notifications></soapenv:Body></soapenv:Envelope>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>&e;</OrganizationId>
</notifications></soapenv:Body></soapenv:Envelope>"""


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("billion laughs", BILLION_LAUGHS),
        ("external entity", EXTERNAL),
        ("not xml", b"{not xml"),
        ("not soap", b"<a/>"),
        (
            "no notifications",
            b'<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>',
        ),
        ("empty", b""),
        ("missing org", soap([("04l001", "006A")], org="")),
        ("too many", soap([(f"04l{i:03}", f"006{i}") for i in range(101)])),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_bad_xml_is_400_and_stores_nothing(client, store, secret, case, body):
    response = client.post(f"/webhooks/salesforce/{secret}", data=body, headers=XML)
    assert response.status_code == 400, case
    assert js(response)["error"] == "bad_request"
    assert "Traceback" not in response.get_data(as_text=True)
    assert stored(store) == 0


def test_wrong_content_type_is_415(client, store, secret):
    response = client.post(
        f"/webhooks/salesforce/{secret}", data=soap([("04l001", "006A")]), content_type="application/json"
    )
    assert response.status_code == 415
    assert stored(store) == 0


def test_parse_keeps_fields_and_skips_nil():
    body = soap([("04l001", "006A")]).replace(b"<sf:IsClosed>", b'<sf:Amount xsi:nil="true"/><sf:IsClosed>')
    message = parse_outbound(body)
    note = message.notifications[0]
    assert message.organization_id == ORG_ID
    assert note.object_type == "Opportunity"
    assert note.fields == {"Id": "006A", "StageName": "Closed Won", "IsClosed": "true"}
