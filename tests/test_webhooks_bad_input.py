"""Bad input of every kind gets a 4xx, stores nothing, and the service keeps serving (hypothesis)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedbackloop.store.models import InboxEvent
from feedbackloop.webhooks.salesforce import new_outbound_secret
from tests.service_support import ORG_ID, PORTAL, hs_event, js, make_app, post_hubspot, soap

pytestmark = pytest.mark.store

_FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def ctx(settings, store):
    hub = store.create_tenant("hub", provider="hubspot", external_id=str(PORTAL))
    sf = store.create_tenant("sf", provider="salesforce", external_id=ORG_ID)
    secret = new_outbound_secret(store, sf)
    client = make_app(settings, store).test_client()
    return client, store, secret, [hub, store.get_tenant("sf")]


def _nothing_stored(store: Any, tenants: Any) -> None:
    assert sum(store.count(InboxEvent, t) for t in tenants) == 0


def _still_serving(client: Any) -> None:
    assert client.get("/healthz").status_code == 200


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


@_FAST
@given(body=st.binary(max_size=300))
def test_signed_random_bytes_to_hubspot(ctx, body):
    client, store, _, tenants = ctx
    response = post_hubspot(client, body)
    assert 400 <= response.status_code < 500
    assert set(js(response)) == {"error", "message"}
    _nothing_stored(store, tenants)
    _still_serving(client)


@_FAST
@given(value=json_values)
def test_signed_wrong_json_shapes_to_hubspot(ctx, value):
    client, store, _, tenants = ctx
    response = post_hubspot(client, json.dumps(value))
    assert 400 <= response.status_code < 500
    _nothing_stored(store, tenants)


@_FAST
@given(
    field=st.sampled_from(["portalId", "eventId", "subscriptionType", "occurredAt"]),
    value=st.none() | st.text(max_size=5) | st.lists(st.integers(), max_size=2),
)
def test_events_with_broken_fields(ctx, field, value):
    client, store, _, tenants = ctx
    event = hs_event(1)
    event[field] = value
    if field in {"eventId", "occurredAt"} and value is not None:
        return  # any non-null id or time is acceptable as a key part
    if field == "subscriptionType" and isinstance(value, str) and value:
        return  # an unknown type is acknowledged and ignored
    response = post_hubspot(client, [event])
    assert 400 <= response.status_code < 500
    _nothing_stored(store, tenants)


@_FAST
@given(body=st.binary(max_size=300))
def test_random_bytes_to_salesforce(ctx, body):
    client, store, secret, tenants = ctx
    response = client.post(f"/webhooks/salesforce/{secret}", data=body, content_type="text/xml")
    assert 400 <= response.status_code < 500
    _nothing_stored(store, tenants)
    _still_serving(client)


@_FAST
@given(cut=st.integers(min_value=1, max_value=400))
def test_truncated_soap_to_salesforce(ctx, cut):
    client, store, secret, tenants = ctx
    body = soap([("04l001", "006A")])
    response = client.post(f"/webhooks/salesforce/{secret}", data=body[:-cut], content_type="text/xml")
    assert 400 <= response.status_code < 500
    _nothing_stored(store, tenants)


def test_wrong_content_type_hubspot(ctx):
    client, store, _, tenants = ctx
    response = post_hubspot(client, [hs_event(1)], content_type="text/plain")
    assert response.status_code == 415
    _nothing_stored(store, tenants)


@pytest.mark.parametrize("target", ["hubspot", "salesforce"])
def test_bodies_over_1mb_are_413(ctx, target):
    client, store, secret, tenants = ctx
    big = b"[" + b" " * (1024 * 1024) + b"]"
    if target == "hubspot":
        response = post_hubspot(client, big)
    else:
        response = client.post(f"/webhooks/salesforce/{secret}", data=big, content_type="text/xml")
    assert response.status_code == 413
    assert js(response)["error"] == "request_entity_too_large"
    _nothing_stored(store, tenants)
    _still_serving(client)


def test_unknown_routes_and_methods_are_json(ctx):
    client, *_ = ctx
    assert js(client.get("/nope"))["error"] == "not_found"
    assert client.get("/webhooks/hubspot").status_code == 405
