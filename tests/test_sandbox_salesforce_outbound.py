"""Outbound messages: valid SOAP read by a standard XML parser, delivered to a loopback receiver, retried
with backoff until acknowledged."""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feedbackloop.sandbox.salesforce import build_notifications, is_ack, start_salesforce, trusting_session
from feedbackloop.sandbox.salesforce.outbound import OUTBOUND_NS
from feedbackloop.sandbox.serving import RunningServer
from tests.test_sandbox_salesforce_fixtures import TinyWorld, sf_id

SOAP = "{http://schemas.xmlsoap.org/soap/envelope/}"
OUT = f"{{{OUTBOUND_NS}}}"
SF = "{urn:sobject.enterprise.soap.sforce.com}"
ACK = (
    '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    f'<soapenv:Body><notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


class Receiver:
    """A WSGI listener that fails the first ``failures`` deliveries (500, then a nack), then acks."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.bodies: list[bytes] = []
        self.content_types: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        with self.lock:
            self.bodies.append(body)
            self.content_types.append(environ.get("CONTENT_TYPE", ""))
            attempt = len(self.bodies)
        if attempt == 1:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
            return [b"boom"]
        answer = ACK if attempt > self.failures else ACK.replace("true", "false")
        start_response("200 OK", [("Content-Type", "text/xml")])
        return [answer.encode()]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    listener = Receiver(failures=2)
    with RunningServer(listener) as server:
        yield listener, f"{server.url}/salesforce/outbound/secret-123"


def test_closed_deals_are_delivered_and_retried_until_acked(
    receiver: tuple[Receiver, str], tmp_path: Path
) -> None:
    listener, url = receiver
    server = start_salesforce(TinyWorld(), tmp_path, outbound_url=url)
    try:
        http = trusting_session(server.ca_file)
        summary = http.post(f"{server.url}/_sandbox/advance", json={"days": 2}, timeout=5).json()
        assert summary["closed_deals"] == 1
        assert summary["outbound_messages"] == 1
        sender = server.sandbox.sender
        assert sender is not None
        assert sender.flush(timeout=10)
        snapshot = http.get(f"{server.url}/_sandbox/outbound", timeout=5).json()
    finally:
        server.stop()
    assert snapshot["delivered"] == 1
    assert snapshot["attempts"] == 3
    assert snapshot["failed_attempts"] == 2
    assert len(listener.bodies) == 3
    assert listener.bodies[0] == listener.bodies[2]  # a retry resends the same notification ids
    assert listener.content_types[0].startswith("text/xml")
    root = ET.fromstring(listener.bodies[-1])
    notifications = root.find(f"{SOAP}Body/{OUT}notifications")
    assert notifications is not None
    assert notifications.findtext(f"{OUT}OrganizationId") == server.sandbox.org.org_id
    assert (notifications.findtext(f"{OUT}ActionId") or "").startswith("04k")
    assert (notifications.findtext(f"{OUT}EnterpriseUrl") or "").startswith(f"{server.url}/services/Soap/c/")
    session = notifications.find(f"{OUT}SessionId")
    assert session is not None
    assert session.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
    (note,) = notifications.findall(f"{OUT}Notification")
    assert (note.findtext(f"{OUT}Id") or "").startswith("04l")
    sobject = note.find(f"{OUT}sObject")
    assert sobject is not None
    assert sobject.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "sf:Opportunity"
    assert sobject.findtext(f"{SF}Id") == sf_id("Opportunity", "d3")
    assert sobject.findtext(f"{SF}StageName") == "Signed"
    assert sobject.findtext(f"{SF}IsWon") == "true"
    assert sobject.findtext(f"{SF}CloseDate") == "2026-03-02"
    assert sobject.find(f"{SF}Loss_Reason__c") is None  # null fields are omitted


def test_messages_carry_at_most_100_notifications_and_escape_values() -> None:
    stamp = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    records = [
        (
            f"04l{i:015d}",
            {
                "Id": f"006{i:015d}",
                "Name": "Tom & Jerry <3",
                "SystemModstamp": stamp,
                "Amount": 10.5,
                "IsClosed": True,
            },
        )
        for i in range(3)
    ]
    body = build_notifications(
        records,
        org_id="00D000000000001AAA",
        action_id="04k000000000001AAA",
        instance_url="https://127.0.0.1:1",
    )
    root = ET.fromstring(body)
    names = [n.text for n in root.iter(f"{SF}Name")]
    assert names == ["Tom & Jerry <3"] * 3
    assert next(root.iter(f"{SF}SystemModstamp")).text == "2026-01-02T03:04:05.000Z"
    assert is_ack(200, ACK.encode())
    assert not is_ack(200, ACK.replace("true", "false").encode())
    assert not is_ack(500, ACK.encode())
    assert not is_ack(200, b"not xml")


def test_sender_splits_large_batches(tmp_path: Path) -> None:
    server = start_salesforce(TinyWorld(), tmp_path, outbound_url="http://127.0.0.1:9/unreachable")
    try:
        sender = server.sandbox.sender
        assert sender is not None
        assert sender.notify([f"d{i}" for i in range(250)]) == 3
        assert sender.snapshot()["notifications"] == 250
    finally:
        server.stop()
