"""Signed webhook batches when the world advances: v3 signatures the SDK accepts, batching, retries."""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from hubspot.utils.signature import Signature

from feedbackloop.sandbox.hubspot import HubSpotOptions
from feedbackloop.sandbox.hubspot.events import WebhookSender
from tests.test_sandbox_hubspot_support import FAST, make_world, served


class Receiver:
    """A loopback webhook endpoint that records raw deliveries and can fail the first few."""

    def __init__(self, fail_first: int = 0) -> None:
        self.deliveries: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.lock:
                    receiver.deliveries.append((dict(self.headers.items()), body))
                    failing = len(receiver.deliveries) <= receiver.fail_first
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hubspot/webhooks?tenant=acme"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def _valid(headers: dict[str, str], body: bytes, url: str, secret: str) -> bool:
    return bool(
        Signature.is_valid(
            signature=headers["X-HubSpot-Signature-v3"],
            client_secret=secret,
            request_body=body.decode(),
            http_uri=url,
            http_method="POST",
            signature_version="v3",
            timestamp=headers["X-HubSpot-Request-Timestamp"],
        )
    )


def test_advance_sends_signed_deal_events(receiver: Receiver) -> None:
    with served(make_world(), webhook_url=receiver.url, client_secret="s3cret", **FAST) as (url, sandbox):
        request = urllib.request.Request(
            url + "/_sandbox/advance", data=b'{"days": 20}', headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            summary = json.loads(response.read())
        assert summary["closed_deals"] > 0
        assert sandbox.webhooks is not None
        assert sandbox.webhooks.flush(10)
    events = [e for _, body in receiver.deliveries for e in json.loads(body)]
    assert len(events) == summary["events"]
    for headers, body in receiver.deliveries:
        assert _valid(headers, body, receiver.url, "s3cret")
        assert not _valid(headers, body, receiver.url, "sandbox-secret")
    changes = [e for e in events if e["subscriptionType"] == "deal.propertyChange"]
    stage_changes = [e for e in changes if e["propertyName"] == "dealstage"]
    assert len(stage_changes) >= summary["closed_deals"]
    closes = [e for e in changes if e["propertyName"] == "closedate"]
    assert len(closes) == summary["closed_deals"]  # open deals have no close date in this world
    assert {e["objectId"] for e in closes} <= {e["objectId"] for e in stage_changes}
    assert {e["propertyName"] for e in changes} <= {"dealstage", "closedate", "amount"}
    for event in changes:
        assert {"subscriptionId", "portalId", "occurredAt", "eventId", "attemptNumber", "objectId"} <= set(
            event
        )
        assert event["portalId"] == sandbox.options.hub_id
        assert event["attemptNumber"] == 0


def test_batches_of_at_most_100_and_retries_with_attempt_numbers() -> None:
    receiver = Receiver(fail_first=2)
    options = HubSpotOptions(webhook_backoff_seconds=0.01)
    sender = WebhookSender(options, receiver.url)
    try:
        sender.submit(
            [{"eventId": i, "subscriptionType": "deal.creation", "objectId": i} for i in range(250)]
        )
        assert sender.flush(10)
    finally:
        sender.close()
        receiver.close()
    batches = [json.loads(body) for _, body in receiver.deliveries]
    assert all(len(b) <= 100 for b in batches)
    delivered = batches[2:]  # the first two attempts were answered with 500 and retried
    assert sorted(e["eventId"] for b in delivered for e in b) == list(range(250))
    assert max(e["attemptNumber"] for b in delivered for e in b) >= 1
    assert all(_valid(h, body, receiver.url, "sandbox-secret") for h, body in receiver.deliveries)
    assert sender.snapshot()["retries"] == 2


def test_gives_up_after_the_retry_budget() -> None:
    receiver = Receiver(fail_first=100)
    sender = WebhookSender(HubSpotOptions(webhook_backoff_seconds=0.001, webhook_retries=3), receiver.url)
    try:
        sender.submit([{"eventId": 1}])
        assert sender.flush(10)
    finally:
        sender.close()
        receiver.close()
    assert [json.loads(b)[0]["attemptNumber"] for _, b in receiver.deliveries] == [0, 1, 2, 3]
    assert sender.snapshot()["failed_batches"] == 1
