"""Rate limits, the search cap, partial batch failures, auth and token expiry, faults and portal tiers."""

from __future__ import annotations

import http.client
import json
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from hubspot import HubSpot
from hubspot.crm.deals import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
)
from hubspot.crm.deals.exceptions import ApiException
from hubspot.crm.schemas.exceptions import ApiException as SchemasApiException
from urllib3.util.retry import Retry

from feedbackloop.sandbox.hubspot.app import HubSpotSandbox
from tests.test_sandbox_hubspot_support import FAST, make_world, sdk, served, validate

DEALS = "CRM_Deals_v3_deals"


class FakeClock:
    """Wall time the test moves by hand (token expiry, rate-limit windows)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def world() -> Any:
    return make_world()


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def limited_server(world: Any, clock: FakeClock) -> Iterator[tuple[str, HubSpotSandbox]]:
    options = {"burst_limit": 5, "search_limit": 2, "token_ttl_seconds": 60, "search_result_cap": 20}
    with served(world, clock=clock, **options) as running:
        yield running


@pytest.fixture
def limited(limited_server: tuple[str, HubSpotSandbox]) -> tuple[str, HubSpotSandbox]:
    """The small-limits portal with empty rate-limit windows and fresh counts."""
    sandbox = limited_server[1]
    sandbox.burst.reset()
    sandbox.search.reset()
    sandbox.stats.reset()
    return limited_server


@pytest.fixture(scope="module")
def fast_server(world: Any) -> Iterator[tuple[str, HubSpotSandbox]]:
    with served(world, **FAST) as running:
        yield running


@pytest.fixture
def fast(fast_server: tuple[str, HubSpotSandbox]) -> Iterator[tuple[str, HubSpotSandbox]]:
    """The unlimited portal; faults switched off again after each test."""
    yield fast_server
    fast_server[1].faults.configure(0.0)
    fast_server[1].faults.injected.clear()


def _search(client: HubSpot, **kw: Any) -> Any:
    return client.crm.deals.search_api.do_search(public_object_search_request=PublicObjectSearchRequest(**kw))


def test_ten_secondly_limit_headers_and_429_body(
    limited: tuple[str, HubSpotSandbox], clock: FakeClock
) -> None:
    url, sandbox = limited
    api = sdk(url).crm.deals.basic_api
    remaining = []
    for _ in range(5):
        api.get_page(limit=1)
        headers = api.api_client.last_response.urllib3_response.headers
        assert headers["X-HubSpot-RateLimit-Max"] == "5"
        assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        remaining.append(int(headers["X-HubSpot-RateLimit-Remaining"]))
    assert remaining == [4, 3, 2, 1, 0]
    with pytest.raises(ApiException) as refused:
        api.get_page(limit=1)
    assert refused.value.status == 429
    body = json.loads(refused.value.body)
    assert body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["errorType"] == "RATE_LIMIT"
    assert refused.value.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    clock.now += 9.9
    with pytest.raises(ApiException):
        api.get_page(limit=1)
    clock.now += 0.2  # the first five requests have left the rolling window
    api.get_page(limit=1)
    stats = sandbox.stats.snapshot()
    assert stats["rate_limited"] == 2
    assert stats["by_endpoint"]["GET /crm/v3/objects/deals"] == 8


def test_search_has_its_own_secondly_limit_and_no_headers(
    limited: tuple[str, HubSpotSandbox], clock: FakeClock
) -> None:
    client = sdk(limited[0])
    for _ in range(5):
        client.crm.deals.basic_api.get_page(limit=1)  # spends the whole ten-secondly bucket
    api = client.crm.deals.search_api
    for _ in range(2):
        api.do_search(public_object_search_request=PublicObjectSearchRequest(limit=1))
        assert not any(
            h.startswith("X-HubSpot-RateLimit") for h in api.api_client.last_response.urllib3_response.headers
        )
    with pytest.raises(ApiException) as refused:
        api.do_search(public_object_search_request=PublicObjectSearchRequest(limit=1))
    assert refused.value.status == 429
    assert json.loads(refused.value.body)["policyName"] == "SECONDLY"
    clock.now += 1.01
    assert api.do_search(public_object_search_request=PublicObjectSearchRequest(limit=1)).total > 0


def test_search_cap_is_a_400_like_hubspot(limited: tuple[str, HubSpotSandbox], clock: FakeClock) -> None:
    client = sdk(limited[0])
    page = _search(client, limit=10, after="10")
    assert page.total > 20  # more matches than the cap: total is still the true count
    clock.now += 2
    with pytest.raises(ApiException) as capped:
        _search(client, limit=10, after="20")
    assert capped.value.status == 400
    assert json.loads(capped.value.body)["category"] == "VALIDATION_ERROR"


def test_default_cap_is_ten_thousand(fast: tuple[str, HubSpotSandbox]) -> None:
    client = sdk(fast[0])
    assert _search(client, limit=200, after="9800").results == []
    with pytest.raises(ApiException) as capped:
        _search(client, limit=200, after="10000")
    assert capped.value.status == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"limit": 201}, "limit"),
        ({"sorts": [{"propertyName": "amount"}, {"propertyName": "createdate"}]}, "one sort"),
        (
            {"filterGroups": [{"filters": [{"propertyName": "amount", "operator": "HAS_PROPERTY"}]}] * 6},
            "groups",
        ),
        ({"filterGroups": [{"filters": [{"propertyName": "nope", "operator": "EQ", "value": "1"}]}]}, "nope"),
        ({"query": "x" * 3001}, "3000"),
    ],
    ids=["limit-over-200", "two-sorts", "six-groups", "unknown-property", "long-query"],
)
def test_search_validation(fast: tuple[str, HubSpotSandbox], body: dict[str, Any], message: str) -> None:
    with pytest.raises(ApiException) as bad:
        sdk(fast[0]).crm.deals.search_api.do_search(public_object_search_request=body)
    assert bad.value.status == 400
    assert message in json.loads(bad.value.body)["message"]


def test_partial_batch_failures_are_207(fast: tuple[str, HubSpotSandbox]) -> None:
    client = sdk(fast[0])
    ids = [d.id for d in _search(client, limit=3).results]
    batch = client.crm.deals.batch_api
    read = batch.read(
        batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in [*ids, "1"]],
            properties=[],
            properties_with_history=[],
        )
    )
    raw = batch.api_client.last_response
    assert raw.status == 207
    validate(DEALS, "BatchResponseSimplePublicObjectWithErrors", json.loads(raw.data))
    assert read.num_errors == 1
    assert read.errors[0].context == {"ids": ["1"]}
    updated = batch.update(
        batch_input_simple_public_object_batch_input=BatchInputSimplePublicObjectBatchInput(
            inputs=[
                SimplePublicObjectBatchInput(id=ids[0], properties={"amount": "1234.5"}),
                SimplePublicObjectBatchInput(id=ids[1], properties={"amount": "lots"}),
                SimplePublicObjectBatchInput(id=ids[2], properties={"hs_is_closed_won": "true"}),
                SimplePublicObjectBatchInput(id="2", properties={"amount": "1"}),
            ]
        )
    )
    raw = batch.api_client.last_response
    assert raw.status == 207
    validate(DEALS, "BatchResponseSimplePublicObjectWithErrors", json.loads(raw.data))
    assert [r.id for r in updated.results] == [ids[0]]
    assert sorted(e.category for e in updated.errors) == [
        "OBJECT_NOT_FOUND",
        "VALIDATION_ERROR",
        "VALIDATION_ERROR",
    ]
    with pytest.raises(ApiException) as too_many:
        batch.read(
            batch_read_input_simple_public_object_id=BatchReadInputSimplePublicObjectId(
                inputs=[SimplePublicObjectId(id=str(i)) for i in range(101)],
                properties=[],
                properties_with_history=[],
            )
        )
    assert too_many.value.status == 400


def test_unknown_token_is_401_with_hubspot_body(fast: tuple[str, HubSpotSandbox]) -> None:
    with pytest.raises(ApiException) as refused:
        sdk(fast[0], token="not-a-token").crm.deals.basic_api.get_page(limit=1)
    assert refused.value.status == 401
    body = json.loads(refused.value.body)
    assert body["category"] == "INVALID_AUTHENTICATION"
    assert body["status"] == "error"
    assert body["correlationId"]


def test_access_tokens_expire_and_refresh_works(
    limited: tuple[str, HubSpotSandbox], clock: FakeClock
) -> None:
    url, sandbox = limited
    code = sandbox.tokens.issue_code(["oauth", "crm.objects.deals.read"], "http://127.0.0.1:9/cb")
    oauth = HubSpot(host=url).oauth.tokens_api
    tokens = oauth.create(
        grant_type="authorization_code",
        code=code,
        redirect_uri="http://127.0.0.1:9/cb",
        client_id="sandbox-client",
        client_secret="sandbox-secret",
    )
    assert tokens.expires_in == 60
    sdk(url, tokens.access_token).crm.deals.basic_api.get_page(limit=1)
    clock.now += 61
    with pytest.raises(ApiException) as expired:
        sdk(url, tokens.access_token).crm.deals.basic_api.get_page(limit=1)
    assert expired.value.status == 401
    assert json.loads(expired.value.body)["category"] == "EXPIRED_AUTHENTICATION"
    fresh = oauth.create(
        grant_type="refresh_token",
        refresh_token=tokens.refresh_token,
        client_id="sandbox-client",
        client_secret="sandbox-secret",
    )
    assert sdk(url, fresh.access_token).crm.deals.basic_api.get_page(limit=1).results
    with pytest.raises(Exception, match=r"BAD_CLIENT_ID|400"):
        oauth.create(
            grant_type="refresh_token", refresh_token="x", client_id="sandbox-client", client_secret="no"
        )


def _admin(url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return dict(json.loads(response.read()))


@pytest.mark.parametrize("kind", ["429", "500"])
def test_status_faults(fast: tuple[str, HubSpotSandbox], kind: str) -> None:
    url = fast[0]
    _admin(url, "/_sandbox/faults", {"rate": 1.0, "kinds": [kind]})
    with pytest.raises(ApiException) as failed:
        sdk(url).crm.deals.basic_api.get_page(limit=1)
    assert failed.value.status == int(kind)
    _admin(url, "/_sandbox/faults", {"rate": 0.0})
    assert sdk(url).crm.deals.basic_api.get_page(limit=1).results


def test_reset_and_slow_faults(fast: tuple[str, HubSpotSandbox]) -> None:
    url, sandbox = fast
    port = int(url.rsplit(":", 1)[1])
    _admin(url, "/_sandbox/faults", {"rate": 1.0, "kinds": ["reset"]})
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", "/crm/v3/objects/deals", headers={"Authorization": "Bearer sandbox-token"})
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
        connection.getresponse()
    _admin(url, "/_sandbox/faults", {"rate": 1.0, "kinds": ["slow"], "slow_seconds": 0.3})
    started = time.perf_counter()
    assert sdk(url).crm.deals.basic_api.get_page(limit=1).results
    assert time.perf_counter() - started >= 0.3
    assert sandbox.faults.snapshot()["injected"] == {"reset": 1, "slow": 1}


def test_faults_retried_by_a_well_configured_client(fast: tuple[str, HubSpotSandbox]) -> None:
    """With reference §11.2's Retry, a 20% fault rate of 429 / 500 still gets every page."""
    url, sandbox = fast
    _admin(url, "/_sandbox/faults", {"rate": 0.2, "kinds": ["429", "500"]})
    retry = Retry(
        total=8,
        status_forcelist=(429, 500),
        allowed_methods=None,
        backoff_factor=0,
        raise_on_status=False,
    )
    client = HubSpot(access_token="sandbox-token", host=url, retry=retry)
    api, seen, after = client.crm.deals.basic_api, 0, None
    while True:
        page = api.get_page(limit=2, after=after)
        seen += len(page.results)
        if not page.paging:
            break
        after = page.paging.next.after
    assert seen == len(sandbox.portal.table("deals").by_id)
    assert sum(sandbox.faults.snapshot()["injected"].values()) > 0


def test_custom_objects_need_enterprise(fast: tuple[str, HubSpotSandbox]) -> None:
    with pytest.raises(SchemasApiException) as denied:
        sdk(fast[0]).crm.schemas.core_api.get_all()
    assert denied.value.status == 403


def test_optional_email_properties_can_be_missing(world: Any) -> None:
    with served(world, missing_email_properties=("hs_template_id", "hs_sequence_id"), **FAST) as (url, _):
        client = sdk(url)
        names = {p.name for p in client.crm.properties.core_api.get_all(object_type="emails").results}
        assert "hs_email_open_count" in names
        assert not names & {"hs_template_id", "hs_sequence_id"}
        page = client.crm.objects.emails.basic_api.get_page(
            limit=3, properties=["hs_template_id", "hs_timestamp"]
        )
        assert all("hs_template_id" not in e.properties for e in page.results)
        assert all(e.properties["hs_timestamp"] for e in page.results)


def test_oauth_tokens_only_reach_what_their_scopes_allow(fast: tuple[str, HubSpotSandbox]) -> None:
    url, sandbox = fast
    code = sandbox.tokens.issue_code(["oauth", "crm.objects.deals.read"], "http://127.0.0.1:9/cb")
    tokens = sandbox.tokens.exchange_code(code, "http://127.0.0.1:9/cb")
    client = sdk(url, tokens["access_token"])
    assert client.crm.deals.basic_api.get_page(limit=1).results
    with pytest.raises(ApiException) as denied:
        client.crm.deals.basic_api.update(
            deal_id="1", simple_public_object_input={"properties": {"amount": "1"}}
        )
    assert denied.value.status == 403
    body = json.loads(denied.value.body)
    assert body["category"] == "MISSING_SCOPES"
    assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.deals.write"]
    validate(DEALS, "Error", body)
    from hubspot.crm.objects.emails.exceptions import ApiException as EmailsApiException

    with pytest.raises(EmailsApiException) as no_emails:
        client.crm.objects.emails.basic_api.get_page(limit=1)
    assert no_emails.value.status == 403
    assert "sales-email-read" in no_emails.value.body
