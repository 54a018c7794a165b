"""OAuth web-server flow with PKCE, token expiry and refresh, the daily quota, and injected faults."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
)

from feedbackloop.sandbox.salesforce import start_salesforce, trusting_session
from feedbackloop.sandbox.salesforce.server import SalesforceServer
from tests.test_sandbox_salesforce_fixtures import TinyWorld

CLIENT = {"client_id": "sandbox-client-id", "client_secret": "sandbox-client-secret"}
CALLBACK = "https://127.0.0.1:9/callback"


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[Callable[..., SalesforceServer]]:
    started: list[SalesforceServer] = []

    def make(**options: Any) -> SalesforceServer:
        server = start_salesforce(TinyWorld(), tmp_path / f"tls{len(started)}", **options)
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def client(server: SalesforceServer, token: str = "sandbox-token") -> Any:
    return Salesforce(
        instance_url=server.url, session_id=token, version="60.0", session=trusting_session(server.ca_file)
    )


def authorize(server: SalesforceServer, http: requests.Session, challenge: str | None) -> str:
    params = {
        "response_type": "code",
        "client_id": CLIENT["client_id"],
        "redirect_uri": CALLBACK,
        "scope": "api refresh_token",
        "state": "xyz",
    }
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    answer = http.get(
        f"{server.url}/services/oauth2/authorize", params=params, allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302
    location = urlparse(answer.headers["Location"])
    query = parse_qs(location.query)
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    assert query["state"] == ["xyz"]
    return query["code"][0]


def pkce() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(b"v" * 40).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def test_web_server_flow_with_pkce_then_refresh(make_server: Callable[..., SalesforceServer]) -> None:
    server = make_server(token_lifetime_seconds=1.5)
    http = trusting_session(server.ca_file)
    verifier, challenge = pkce()
    token_url = f"{server.url}/services/oauth2/token"
    code = authorize(server, http, challenge)
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": CALLBACK, **CLIENT}
    wrong = http.post(token_url, data={**grant, "code_verifier": verifier + "x"}, timeout=5)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    code = authorize(server, http, challenge)  # codes are single-use
    issued = http.post(token_url, data={**grant, "code": code, "code_verifier": verifier}, timeout=5).json()
    issued_at = time.monotonic()
    assert issued["instance_url"] == server.url
    assert issued["token_type"] == "Bearer"
    assert issued["id"].startswith(f"{server.url}/id/00D")
    assert issued["issued_at"].isdigit()
    assert issued["signature"]
    assert (
        http.post(token_url, data={**grant, "code": code, "code_verifier": verifier}, timeout=5).status_code
        == 400
    )

    sf = client(server, issued["access_token"])
    assert sf.query("SELECT COUNT() FROM Opportunity")["totalSize"] == 5
    info = http.get(
        f"{server.url}/services/oauth2/userinfo",
        timeout=5,
        headers={"Authorization": f"Bearer {issued['access_token']}"},
    ).json()
    assert info["organization_id"] == server.sandbox.org.org_id
    assert info["user_id"].startswith("005")

    time.sleep(max(0.0, 1.6 - (time.monotonic() - issued_at)))
    with pytest.raises(SalesforceExpiredSession) as caught:
        sf.query("SELECT Id FROM Account")
    assert caught.value.status == 401
    assert caught.value.content[0]["errorCode"] == "INVALID_SESSION_ID"  # type: ignore[index]

    refreshed = http.post(
        token_url,
        timeout=5,
        data={"grant_type": "refresh_token", "refresh_token": issued["refresh_token"], **CLIENT},
    ).json()
    assert "refresh_token" not in refreshed
    assert client(server, refreshed["access_token"]).query("SELECT COUNT() FROM Account")["totalSize"] == 3
    bad = http.post(
        token_url, timeout=5, data={"grant_type": "refresh_token", "refresh_token": "nope", **CLIENT}
    )
    assert bad.json()["error"] == "invalid_grant"


def test_authorize_refuses_unknown_clients(make_server: Callable[..., SalesforceServer]) -> None:
    server = make_server()
    answer = trusting_session(server.ca_file).get(
        f"{server.url}/services/oauth2/authorize",
        timeout=5,
        allow_redirects=False,
        params={"response_type": "code", "client_id": "someone-else", "redirect_uri": CALLBACK},
    )
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_client_id"


def test_static_token_can_expire(make_server: Callable[..., SalesforceServer]) -> None:
    started = time.monotonic()
    server = make_server(static_token_lifetime_seconds=2.0)
    sf = client(server)
    sf.query("SELECT Id FROM Account")  # well inside the lifetime, even on a busy machine
    time.sleep(max(0.0, 2.1 - (time.monotonic() - started)))
    with pytest.raises(SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")


def test_admin_can_expire_every_token(make_server: Callable[..., SalesforceServer]) -> None:
    server = make_server()
    http = trusting_session(server.ca_file)
    assert http.post(f"{server.url}/_sandbox/expire-tokens", timeout=5).status_code == 200
    with pytest.raises(SalesforceExpiredSession):
        client(server).query("SELECT Id FROM Account")


def test_daily_quota_then_a_new_simulated_day(make_server: Callable[..., SalesforceServer]) -> None:
    server = make_server(daily_api_limit=3)
    sf = client(server)
    for _ in range(3):
        sf.query("SELECT Id FROM Account")
    assert sf.api_usage["api-usage"].used == 3
    with pytest.raises(SalesforceRefusedRequest) as caught:
        sf.query("SELECT Id FROM Account")
    assert caught.value.status == 403
    assert caught.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"  # type: ignore[index]
    http = trusting_session(server.ca_file)
    stats = http.get(f"{server.url}/_sandbox/stats", timeout=5).json()
    assert stats["rate_limited"] == 1
    assert stats["total"] == 4
    assert http.post(f"{server.url}/_sandbox/advance", json={"days": 1}, timeout=5).status_code == 200
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 3
    assert sf.api_usage["api-usage"].used == 1


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SalesforceServer]:
    server = start_salesforce(TinyWorld(), tmp_path_factory.mktemp("sf-faults"))
    yield server
    server.stop()


@pytest.fixture
def faulty(shared: SalesforceServer) -> Iterator[Callable[[str], SalesforceServer]]:
    http = trusting_session(shared.ca_file)

    def make(kind: str) -> SalesforceServer:
        http.post(f"{shared.url}/_sandbox/reset", timeout=5)
        body: dict[str, Any] = {"rate": 1.0, "kinds": [kind], "slow_seconds": 0.3}
        answer = http.post(f"{shared.url}/_sandbox/faults", json=body, timeout=5)
        assert answer.json()["rate"] == 1.0
        return shared

    yield make
    http.post(f"{shared.url}/_sandbox/faults", json={"rate": 0.0}, timeout=5)


@pytest.mark.parametrize(
    ("kind", "status", "code"), [("500", 500, "UNKNOWN_EXCEPTION"), ("429", 503, "SERVER_UNAVAILABLE")]
)
def test_error_faults(faulty: Callable[[str], SalesforceServer], kind: str, status: int, code: str) -> None:
    server = faulty(kind)
    with pytest.raises(SalesforceGeneralError) as caught:
        client(server).query("SELECT Id FROM Account")
    assert caught.value.status == status
    assert caught.value.content[0]["errorCode"] == code  # type: ignore[index]
    stats = trusting_session(server.ca_file).get(f"{server.url}/_sandbox/stats", timeout=5).json()
    assert stats["rate_limited"] == (1 if kind == "429" else 0)


def test_reset_fault_drops_the_connection(faulty: Callable[[str], SalesforceServer]) -> None:
    server = faulty("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        client(server).query("SELECT Id FROM Account")


def test_slow_fault_answers_late_but_correctly(faulty: Callable[[str], SalesforceServer]) -> None:
    server = faulty("slow")
    started = time.monotonic()
    assert client(server).query("SELECT COUNT() FROM Account")["totalSize"] == 3
    assert time.monotonic() - started >= 0.3


def test_reset_restores_the_world_and_forgets_writes(make_server: Callable[..., SalesforceServer]) -> None:
    server = make_server(preinstall=True)
    sf = client(server)
    sf.Template_Score__c.create({"Template_Id__c": "x"})
    http = trusting_session(server.ca_file)
    http.post(f"{server.url}/_sandbox/advance", json={"days": 2}, timeout=5)
    assert sf.query("SELECT COUNT() FROM Opportunity WHERE IsWon = true")["totalSize"] == 2
    assert http.post(f"{server.url}/_sandbox/reset", timeout=5).json()["status"] == "reset"
    assert sf.query("SELECT COUNT() FROM Opportunity WHERE IsWon = true")["totalSize"] == 1
    assert sf.query("SELECT COUNT() FROM Template_Score__c")["totalSize"] == 0


def test_orgs_without_optional_fields_describe_and_refuse_them(
    make_server: Callable[..., SalesforceServer],
) -> None:
    server = make_server(
        disabled_fields=frozenset({"EmailMessage.HasReply", "EmailMessage.FirstLinkClickedDate"})
    )
    sf = client(server)
    names = {f["name"] for f in sf.EmailMessage.describe()["fields"]}
    assert "HasReply" not in names
    assert "FirstLinkClickedDate" not in names
    assert "IsOpened" in names
    with pytest.raises(SalesforceMalformedRequest):
        sf.query("SELECT HasReply FROM EmailMessage")
