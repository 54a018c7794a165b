"""The client over real HTTP: POSTs retried with HubSpot's policy waits, timeouts hold, errors translate."""

from __future__ import annotations

import pytest
import requests

from feedbackloop.connectors.hubspot.client import HubSpotClient
from feedbackloop.connectors.hubspot.fetch import Fetcher
from feedbackloop.connectors.retry import RetryPolicy
from feedbackloop.errors import AuthError, RateLimited, RemoteError
from tests.test_hubspot_support import Portal, sandbox


def _client(
    portal: Portal,
    sleeps: list[float],
    token: str | None = None,
    *,
    max_attempts: int = 6,
    timeout: float = 5.0,
) -> HubSpotClient:
    return HubSpotClient(
        lambda: token or portal.handle.token,
        base_url=portal.url,
        tenant_key=f"client-test-{portal.url}",
        policy=RetryPolicy(max_attempts=max_attempts, base_delay=0.01, max_delay=60.0, timeout=timeout),
        sleep=sleeps.append,
    )


def test_search_post_429s_are_retried_with_the_policy_waits() -> None:
    sleeps: list[float] = []
    with sandbox(deals=60) as portal:
        portal.post("faults", {"rate": 0.6, "kinds": ["429"]})
        client = _client(portal, sleeps)
        pages = [Fetcher(client).search_deals(None, 0, ["amount"]) for _ in range(6)]
        stats = portal.get("stats")
    assert all(page.records for page in pages)
    assert sleeps  # 60% of calls fail: the POSTs were retried, not given up after one 429
    # TEN_SECONDLY_ROLLING: 10 s × attempt (1st retry 10 s, 2nd 20 s, …), never slept for real
    assert 10.0 in sleeps
    assert all(s in (10.0, 20.0, 30.0, 40.0, 50.0) for s in sleeps)
    assert client.api_calls == len(sleeps) + 6
    assert stats["total"] == client.api_calls


def test_a_rate_limit_that_does_not_clear_raises_rate_limited() -> None:
    sleeps: list[float] = []
    with sandbox(deals=40) as portal:
        client = _client(portal, sleeps, max_attempts=2)
        portal.post("faults", {"rate": 1.0, "kinds": ["429"]})
        with pytest.raises(RateLimited, match="still rate limited"):
            Fetcher(client).pipelines()
    assert sleeps == [10.0]


def test_timeouts_and_connection_resets_are_retried() -> None:
    sleeps: list[float] = []
    with sandbox(deals=40) as portal:
        portal.post("faults", {"rate": 0.5, "kinds": ["slow", "reset"], "slow_seconds": 1.0})
        client = _client(portal, sleeps, timeout=0.3, max_attempts=10)
        stages = Fetcher(client).pipelines()
        emails = Fetcher(client).batch_read("emails", ["1", "2"], ["hs_timestamp"])
    assert stages
    assert emails == {}
    assert len(sleeps) >= 1


def test_errors_translate_without_leaking_the_token() -> None:
    with sandbox(deals=40) as portal:
        bad = _client(portal, [], token="secret-token-123")
        with pytest.raises(AuthError) as auth:
            Fetcher(bad).pipelines()
        good = _client(portal, [])
        with pytest.raises(RemoteError) as missing:
            good.request_json("sequence", "GET", "/automation/v4/sequences/1", qs={"userId": "1"})
        alive = requests.get(f"{portal.url}/crm/v3/pipelines/deals", timeout=5)
    assert "secret-token-123" not in str(auth.value)
    assert "401" in str(auth.value)
    assert missing.value.status == 404
    assert alive.status_code == 401  # the sandbox wants a token: the client sent ours
