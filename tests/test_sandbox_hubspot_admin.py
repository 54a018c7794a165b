"""The admin API (stats, truth, advance, limits, reset) and what a syncing connector relies on."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hubspot.crm.deals import PublicObjectSearchRequest

from feedbackloop.sandbox.hubspot.app import HubSpotSandbox
from tests.test_sandbox_hubspot_support import FAST, make_world, sdk, served, validate


def _call(url: str, path: str, body: dict[str, Any] | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[str, HubSpotSandbox]]:
    with served(make_world(), **FAST) as pair:
        yield pair


@pytest.fixture
def portal(running: tuple[str, HubSpotSandbox]) -> Iterator[tuple[str, HubSpotSandbox]]:
    """The module's portal, back at the world's start after each test."""
    yield running
    _call(running[0], "/_sandbox/reset", {})


def _search(url: str, filters: list[dict[str, Any]], **kw: Any) -> Any:
    request = PublicObjectSearchRequest(filter_groups=[{"filters": filters}] if filters else [], **kw)
    return sdk(url).crm.deals.search_api.do_search(public_object_search_request=request)


def test_stats_count_path_templates_not_admin_calls(portal: tuple[str, HubSpotSandbox]) -> None:
    url, _ = portal
    client = sdk(url)
    deal = client.crm.deals.basic_api.get_page(limit=1).results[0]
    client.crm.deals.basic_api.get_by_id(deal_id=deal.id)
    client.crm.objects.emails.basic_api.get_page(limit=1)
    _search(url, [])
    _call(url, "/_sandbox/truth")
    assert _call(url, "/_sandbox/stats") == {
        "total": 4,
        "by_endpoint": {
            "GET /crm/v3/objects/deals": 1,
            "GET /crm/v3/objects/deals/{objectId}": 1,
            "GET /crm/v3/objects/emails": 1,
            "POST /crm/v3/objects/deals/search": 1,
        },
        "rate_limited": 0,
    }


def test_truth_is_keyed_by_the_template_ids_emails_carry(portal: tuple[str, HubSpotSandbox]) -> None:
    url = portal[0]
    truth = _call(url, "/_sandbox/truth")
    assert set(truth["deals"]) == {"won", "lost", "open"}
    page = sdk(url).crm.objects.emails.basic_api.get_page(limit=100, properties=["hs_template_id"])
    used = {e.properties["hs_template_id"] for e in page.results} - {None}
    assert used
    assert used <= set(truth["templates"])


def test_incremental_sync_sees_closes_after_advance(portal: tuple[str, HubSpotSandbox]) -> None:
    """The connector's cursor query (hs_lastmodifieddate GTE cursor, ascending) finds every change."""
    url, sandbox = portal
    cursor = str(sandbox.portal.now_ms())
    assert (
        _search(url, [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": cursor}]).total == 0
    )
    summary = _call(url, "/_sandbox/advance", {"days": 30})
    assert summary["closed_deals"] > 0
    changed = _search(
        url,
        [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": cursor}],
        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        properties=["hs_is_closed", "hs_lastmodifieddate"],
        limit=200,
    )
    assert changed.total >= summary["closed_deals"]
    closed_now = [d for d in changed.results if d.properties["hs_is_closed"] == "true"]
    assert len(closed_now) == summary["closed_deals"]


def test_reset_drops_writes_and_restores_limits(portal: tuple[str, HubSpotSandbox]) -> None:
    url, sandbox = portal
    client = sdk(url)
    deal = client.crm.deals.basic_api.get_page(limit=1).results[0]
    client.crm.deals.basic_api.update(
        deal_id=deal.id, simple_public_object_input={"properties": {"dealname": "X"}}
    )
    assert _call(url, "/_sandbox/limits", {"burst_limit": 7}) == {"burst_limit": 7, "search_limit": 100_000}
    _call(url, "/_sandbox/advance", {"days": 5})
    _call(url, "/_sandbox/reset", {})
    assert client.crm.deals.basic_api.get_by_id(deal_id=deal.id).properties["dealname"] != "X"
    assert _call(url, "/_sandbox/limits")["burst_limit"] == 100_000
    assert str(sandbox.portal.world.now) == str(sandbox.portal.world.config.now)
    assert _call(url, "/_sandbox/stats")["total"] == 1


@pytest.mark.parametrize(
    ("filters", "query"),
    [
        ([{"propertyName": "dealname", "operator": "CONTAINS_TOKEN", "value": "new*"}], ""),
        ([], "business"),
        ([{"propertyName": "dealname", "operator": "NOT_CONTAINS_TOKEN", "value": "zzz"}], ""),
    ],
    ids=["contains-token-wildcard", "free-text-query", "not-contains-token"],
)
def test_text_search(portal: tuple[str, HubSpotSandbox], filters: list[dict[str, Any]], query: str) -> None:
    found = _search(portal[0], filters, query=query or None, properties=["dealname"], limit=50)
    assert found.total > 0
    assert all("business" in d.properties["dealname"] for d in found.results)


def test_association_pseudo_filter(portal: tuple[str, HubSpotSandbox]) -> None:
    url, _ = portal
    client = sdk(url)
    deal = client.crm.deals.basic_api.get_page(limit=1, associations=["contacts"]).results[0]
    contact_id = deal.associations["contacts"].results[0].id
    found = _search(url, [{"propertyName": "associations.contact", "operator": "EQ", "value": contact_id}])
    assert deal.id in {d.id for d in found.results}


def test_templates_endpoint_matches_the_beta_spec(portal: tuple[str, HubSpotSandbox]) -> None:
    url, _ = portal
    client = sdk(url)
    listing = client.api_request({"method": "GET", "path": "/automation/email-templates/2026-09-beta"}).json()
    spec = "Automation_Email_Templates_2026-09-beta_emailTemplates"
    validate(spec, "CollectionResponsePublicTemplateForwardPaging", listing)
    one = client.api_request(
        {"method": "GET", "path": f"/automation/email-templates/2026-09-beta/{listing['results'][0]['id']}"}
    )
    validate(spec, "PublicTemplate", one.json())


def test_error_bodies_match_the_error_schema(portal: tuple[str, HubSpotSandbox]) -> None:
    url, _ = portal
    for path in ("/crm/v3/objects/deals/1", "/crm/v3/objects/nonsense", "/crm/v3/nowhere"):
        request = urllib.request.Request(url + path, headers={"Authorization": "Bearer sandbox-token"})
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(request, timeout=10)
        assert failed.value.code in (400, 404)
        validate("CRM_Deals_v3_deals", "Error", json.loads(failed.value.read()))


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b'{"inputs": [{"id": "1", "properties": {"amount": NaN}}]}', "NaN is not JSON"),
        (b'{"inputs": [{"id": "1", "properties": {"amount": "nan"}}]}', "not a number"),
        (b"[1, 2]", "not an object"),
    ],
    ids=["json-nan", "nan-string", "array-body"],
)
def test_invalid_bodies_are_rejected(portal: tuple[str, HubSpotSandbox], body: bytes, why: str) -> None:
    url, _ = portal
    deal_id = sdk(url).crm.deals.basic_api.get_page(limit=1).results[0].id
    request = urllib.request.Request(
        url + "/crm/v3/objects/deals/batch/update",
        data=body.replace(b'"1"', f'"{deal_id}"'.encode()),
        headers={"Authorization": "Bearer sandbox-token", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, answer = response.status, json.loads(response.read())
    except urllib.error.HTTPError as failed:
        status, answer = failed.code, json.loads(failed.read())
    assert status in (207, 400), why
    assert answer.get("numErrors", 1) == 1


def test_concurrent_reads_writes_and_advances(portal: tuple[str, HubSpotSandbox]) -> None:
    """Requests on many threads while the world advances: no errors, every write kept."""
    from concurrent.futures import ThreadPoolExecutor

    from hubspot.crm.deals import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput

    url, sandbox = portal
    ids = [d.id for d in _search(url, [], limit=40).results]

    def write(chunk: list[str]) -> int:
        batch = sdk(url).crm.deals.batch_api
        inputs = [SimplePublicObjectBatchInput(id=i, properties={"description": f"note {i}"}) for i in chunk]
        batch.update(
            batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(inputs=inputs)
        )
        return len(_search(url, [], limit=100).results)

    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(write, ids[i : i + 5]) for i in range(0, 40, 5)]
        advances = [pool.submit(sandbox.advance, 2) for _ in range(3)]
        assert all(f.result() > 0 for f in futures)
        assert all(a.result()["end"] for a in advances)
    notes = sdk(url).crm.deals.batch_api.read(
        batch_read_input_simple_public_object_id={
            "inputs": [{"id": i} for i in ids],
            "properties": ["description"],
        }
    )
    assert {d.properties["description"] for d in notes.results} == {f"note {i}" for i in ids}


def test_written_deals_still_close_when_the_world_moves(portal: tuple[str, HubSpotSandbox]) -> None:
    """Our write-back must not freeze a deal: one that closes later shows closed, with our value kept."""
    from hubspot.crm.deals import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput

    url, _ = portal
    client = sdk(url)
    open_ids = [
        d.id
        for d in _search(
            url, [{"propertyName": "hs_is_closed", "operator": "EQ", "value": "false"}], limit=100
        ).results
    ]
    inputs = [SimplePublicObjectBatchInput(id=i, properties={"description": "scored"}) for i in open_ids]
    client.crm.deals.batch_api.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(inputs=inputs)
    )
    summary = _call(url, "/_sandbox/advance", {"days": 90})
    assert summary["closed_deals"] > 0
    stages = {
        s.id: s.metadata["isClosed"]
        for s in client.crm.pipelines.pipelines_api.get_all(object_type="deals").results[0].stages
    }
    after = client.crm.deals.batch_api.read(
        batch_read_input_simple_public_object_id={
            "inputs": [{"id": i} for i in open_ids],
            "properties": ["dealstage", "hs_is_closed", "description"],
        }
    ).results
    assert sum(d.properties["hs_is_closed"] == "true" for d in after) > 0
    for deal in after:
        assert deal.properties["hs_is_closed"] == stages[deal.properties["dealstage"]]
        assert deal.properties["description"] == "scored"
