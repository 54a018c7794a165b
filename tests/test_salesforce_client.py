"""The Salesforce client's error handling, retries, refresh and quota guard, against `responses` mocks."""

from __future__ import annotations

import base64
import hashlib

import pytest
import requests
import responses

from feedbackloop.connectors.retry import RetryPolicy
from feedbackloop.connectors.salesforce.client import QuotaGuard, SalesforceClient
from feedbackloop.connectors.salesforce.oauth import OAuthApp, Pkce, org_id_from_identity
from feedbackloop.errors import AuthError, PermissionDenied, QuotaExhausted, RemoteError

BASE = "https://org.example.com"
QUERY = f"{BASE}/services/data/v62.0/query/"
LIMIT = {"Sforce-Limit-Info": "api-usage=10/1000"}


def _client(**kwargs) -> SalesforceClient:
    policy = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, timeout=5.0)
    return SalesforceClient(BASE, "tok", policy=policy, sleep=lambda _s: None, **kwargs)


def _error(code: str, message: str = "boom") -> list[dict[str, str]]:
    return [{"errorCode": code, "message": message}]


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        pytest.param(
            403, _error("REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."), QuotaExhausted, id="quota"
        ),
        pytest.param(403, _error("INSUFFICIENT_ACCESS_OR_READONLY"), PermissionDenied, id="permission"),
        pytest.param(400, _error("MALFORMED_QUERY"), RemoteError, id="malformed"),
        pytest.param(404, _error("NOT_FOUND"), RemoteError, id="not-found"),
        pytest.param(
            401, _error("INVALID_SESSION_ID", "Session expired or invalid"), AuthError, id="no-refresh"
        ),
    ],
)
def test_errors_map_to_our_tree_without_retry(status, body, expected) -> None:
    responses.get(QUERY, json=body, status=status)
    client = _client()
    with pytest.raises(expected) as info:
        client.query("SELECT Id FROM Opportunity", "the test query")
    assert "the test query" in str(info.value)
    assert "tok" not in str(info.value)
    assert len(responses.calls) == 1


@responses.activate
@pytest.mark.parametrize(
    "failure",
    [
        pytest.param({"json": _error("UNKNOWN_EXCEPTION"), "status": 500}, id="500"),
        pytest.param({"json": _error("SERVER_UNAVAILABLE"), "status": 503}, id="503"),
        pytest.param({"json": _error("UNABLE_TO_LOCK_ROW"), "status": 400}, id="lock"),
        pytest.param({"body": requests.ConnectionError("reset")}, id="reset"),
        pytest.param({"body": requests.ReadTimeout("slow")}, id="timeout"),
    ],
)
def test_transient_failures_are_retried(failure) -> None:
    responses.get(QUERY, **failure)
    responses.get(QUERY, json={"done": True, "totalSize": 1, "records": [{"Id": "006A"}]}, headers=LIMIT)
    client = _client()
    assert client.query("SELECT Id FROM Opportunity", "q") == [{"Id": "006A"}]
    assert len(responses.calls) == 2


@responses.activate
def test_retries_stop_after_the_policy_limit() -> None:
    responses.get(QUERY, json=_error("UNKNOWN_EXCEPTION"), status=500)
    with pytest.raises(RemoteError, match="HTTP 500"):
        _client().query("SELECT Id FROM Opportunity", "q")
    assert len(responses.calls) == 3


@responses.activate
def test_every_request_carries_a_timeout() -> None:
    seen: list[object] = []
    responses.get(QUERY, json={"done": True, "records": []})
    client = _client()
    original = client.session.get_adapter(BASE).send

    def spy(request, **kwargs):
        seen.append(kwargs.get("timeout"))
        return original(request, **kwargs)

    client.session.get_adapter(BASE).send = spy  # type: ignore[method-assign,assignment]
    client.query("SELECT Id FROM Opportunity", "q")
    assert seen == [5.0]


@responses.activate
def test_expired_session_is_refreshed_once_then_retried() -> None:
    responses.get(QUERY, json=_error("INVALID_SESSION_ID"), status=401)
    responses.get(QUERY, json={"done": True, "records": [{"Id": "006B"}]})
    tokens = iter(["fresh"])
    client = _client(refresh=lambda: next(tokens))
    assert client.query("SELECT Id FROM Opportunity", "q") == [{"Id": "006B"}]
    assert responses.calls[1].request.headers["Authorization"] == "Bearer fresh"


@responses.activate
def test_a_refreshed_token_that_is_refused_again_is_an_auth_error() -> None:
    responses.get(QUERY, json=_error("INVALID_SESSION_ID"), status=401)
    calls: list[int] = []

    def refresh() -> str:
        calls.append(1)
        return "again"

    client = _client(refresh=refresh)
    with pytest.raises(AuthError):
        client.query("SELECT Id FROM Opportunity", "q")
    assert calls == [1]


@responses.activate
def test_query_pages_follow_next_records_url() -> None:
    more = "/services/data/v62.0/query/01gX-2000"
    responses.get(QUERY, json={"done": False, "nextRecordsUrl": more, "records": [{"Id": "1"}]})
    responses.get(BASE + more, json={"done": True, "records": [{"Id": "2"}]})
    client = _client()
    pages = list(client.query_pages("SELECT Id FROM Opportunity", "q", batch_size=500))
    assert pages == [[{"Id": "1"}], [{"Id": "2"}]]
    assert all(c.request.headers["Sforce-Query-Options"] == "batchSize=500" for c in responses.calls)
    assert client.api_calls == 2


@responses.activate
def test_quota_guard_stops_at_its_share_of_the_daily_allocation() -> None:
    page = {"done": True, "records": []}
    responses.get(QUERY, json=page, headers={"Sforce-Limit-Info": "api-usage=500/1000"})
    client = _client(quota=QuotaGuard(share=0.002))  # 2 calls of 1,000
    client.query("SELECT Id FROM Opportunity", "q1")
    client.query("SELECT Id FROM Opportunity", "q2")
    with pytest.raises(QuotaExhausted, match=r"used 2 API calls.*0%.*1000.*cursor is saved"):
        client.query("SELECT Id FROM Opportunity", "q3")
    assert len(responses.calls) == 2


def test_quota_guard_prefers_the_apps_own_usage() -> None:
    guard = QuotaGuard(share=0.25)
    guard.observe("api-usage=900/1000; per-app-api-usage=10/250(appName=feedbackloop)")
    guard.check("next")  # the org is busy, but this app used 10 of its 250
    guard.observe("api-usage=1000/1000; per-app-api-usage=11/250(appName=feedbackloop)")
    with pytest.raises(QuotaExhausted, match="spent"):
        guard.check("next")


def test_pkce_challenge_is_rfc7636_s256() -> None:
    pkce = Pkce.new()
    digest = hashlib.sha256(pkce.verifier.encode()).digest()
    assert pkce.challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    assert 43 <= len(pkce.verifier) <= 128


@responses.activate
def test_oauth_code_exchange_and_refresh() -> None:
    app = OAuthApp(client_id="cid", redirect_uri="https://app/cb", login_url="https://login.example.com")
    url = app.authorization_url("st4te", pkce := Pkce.new())
    assert "code_challenge_method=S256" in url
    assert f"code_challenge={pkce.challenge}" in url
    body = {
        "access_token": "a1",
        "refresh_token": "r1",
        "instance_url": BASE,
        "id": "https://login/id/00Dorg/005usr",
        "issued_at": "1700000000000",
    }
    responses.post("https://login.example.com/services/oauth2/token", json=body)
    tokens = app.exchange_code("code", pkce)
    assert (tokens.org_id, tokens.refresh_token, tokens.instance_url) == ("00Dorg", "r1", BASE)
    assert "a1" not in repr(tokens)
    form = responses.calls[0].request.body
    assert f"code_verifier={pkce.verifier}" in str(form)
    responses.post(
        "https://login.example.com/services/oauth2/token", json={"access_token": "a2", "instance_url": BASE}
    )
    assert app.refresh("r1").refresh_token == "r1"  # kept when not rotated
    responses.post(
        "https://login.example.com/services/oauth2/token", json={"error": "invalid_grant"}, status=400
    )
    with pytest.raises(AuthError, match="invalid_grant"):
        app.refresh("r1")


def test_org_id_from_identity_url() -> None:
    assert (
        org_id_from_identity("https://login.salesforce.com/id/00D000000000001/005000000000001")
        == "00D000000000001"
    )
    assert org_id_from_identity(None) is None


@responses.activate
def test_write_back_retries_failed_records_and_reports_the_rest() -> None:
    from datetime import UTC, datetime

    from feedbackloop.connectors.base import DealWriteBack, WriteBackPlan
    from feedbackloop.connectors.salesforce.writeback import write_back

    url = f"{BASE}/services/data/v62.0/composite/sobjects"
    lock = {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked"}]}
    bad = {"success": False, "errors": [{"statusCode": "MALFORMED_ID", "message": "bad id"}]}
    responses.patch(url, json=[{"id": "006A", "success": True}, lock, bad])
    responses.patch(url, json=[{"id": "006B", "success": True}, bad])
    responses.patch(url, json=[bad])
    plan = WriteBackPlan(
        datetime(2026, 11, 1, tzinfo=UTC),
        deals=[DealWriteBack(d, "A: 0.1", "") for d in ("006A", "006B", "bad")],
    )
    report = write_back(_client(), plan, sleep=lambda _s: None)
    assert (report.updated, report.failed, report.api_calls) == (2, 1, 3)
    assert [(f.kind, f.record_id, f.reason) for f in report.failures] == [
        ("deal", "bad", "MALFORMED_ID: bad id")
    ]
    import json

    retried = [r["id"] for r in json.loads(responses.calls[1].request.body or "")["records"]]
    assert retried == ["006B", "bad"]
    assert json.loads(responses.calls[0].request.body or "")["allOrNone"] is False


@responses.activate
def test_write_back_before_install_says_to_install() -> None:
    from datetime import UTC, datetime

    from feedbackloop.connectors.base import TemplateScoreRecord, WriteBackPlan
    from feedbackloop.connectors.salesforce.writeback import write_back
    from feedbackloop.errors import ConnectorError

    url = f"{BASE}/services/data/v62.0/composite/sobjects/Template_Score__c/Template_Id__c"
    responses.patch(url, json=_error("NOT_FOUND", "The requested resource does not exist"), status=404)
    plan = WriteBackPlan(
        datetime(2026, 11, 1, tzinfo=UTC),
        templates=[TemplateScoreRecord("00X1", "T", 0.1, None, None, None, None, "active", 3)],
    )
    with pytest.raises(ConnectorError, match="feedbackloop install"):
        write_back(_client(), plan, sleep=lambda _s: None)
