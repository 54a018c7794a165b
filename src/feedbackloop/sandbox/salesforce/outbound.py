"""Outbound messages: SOAP 1.1 ``notifications`` for closed Opportunities, delivered from a background
thread and retried with exponential backoff until the receiver answers ``<Ack>true</Ack>``.

As in Salesforce (reference §8.1): at most 100 notifications per message, the sObject carries the record's
*latest* state at send time with null fields omitted, delivery is at-least-once, and undeliverable
messages are retried with growing delays (compressed here: ``base_delay`` doubling up to ``max_delay``)
and dropped after ``max_attempts``.
"""

from __future__ import annotations

import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from xml.sax.saxutils import escape

import requests

from feedbackloop.sandbox.salesforce.ids import derived_id
from feedbackloop.sandbox.salesforce.objects import sid
from feedbackloop.sandbox.salesforce.org import OrgData

__all__ = ["OUTBOUND_NS", "OutboundSender", "build_notifications", "is_ack"]

OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_FIELDS = (
    "Name",
    "AccountId",
    "StageName",
    "IsClosed",
    "IsWon",
    "Amount",
    "CloseDate",
    "Probability",
    "ForecastCategoryName",
    "LastModifiedDate",
    "SystemModstamp",
)
MAX_NOTIFICATIONS = 100


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    if isinstance(value, date):
        return value.isoformat()
    return escape(str(value))


def build_notifications(
    records: Iterable[tuple[str, dict[str, Any]]],
    *,
    org_id: str,
    action_id: str,
    instance_url: str,
    version: str = "60.0",
    session_id: str | None = None,
    extra_fields: tuple[str, ...] = (),
) -> str:
    """The SOAP envelope for ``(notification id, Opportunity record)`` pairs."""
    notes = []
    for note_id, record in records:
        fields = [f"<sf:Id>{escape(record['Id'])}</sf:Id>"]
        for name in _FIELDS + extra_fields:
            if record.get(name) is not None:
                fields.append(f"<sf:{name}>{_xml_value(record[name])}</sf:{name}>")
        notes.append(
            f"<Notification><Id>{note_id}</Id>"
            f'<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            f"{''.join(fields)}</sObject></Notification>"
        )
    session = f"<SessionId>{escape(session_id)}</SessionId>" if session_id else '<SessionId xsi:nil="true"/>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        f'<notifications xmlns="{OUTBOUND_NS}"><OrganizationId>{org_id}</OrganizationId>'
        f"<ActionId>{action_id}</ActionId>{session}"
        f"<EnterpriseUrl>{escape(instance_url)}/services/Soap/c/{version}/{org_id[:15]}</EnterpriseUrl>"
        f"<PartnerUrl>{escape(instance_url)}/services/Soap/u/{version}/{org_id[:15]}</PartnerUrl>"
        f"{''.join(notes)}</notifications></soapenv:Body></soapenv:Envelope>"
    )


def is_ack(status: int, body: bytes) -> bool:
    """True for HTTP 200 with ``notificationsResponse/Ack`` = true."""
    if status != 200:
        return False
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    ack = root.find(f".//{{{OUTBOUND_NS}}}Ack")
    return ack is not None and (ack.text or "").strip().lower() == "true"


@dataclass
class _Delivery:
    notes: list[tuple[str, str]]  # (notification id, Opportunity id)
    attempts: int = 0
    due: float = 0.0


class OutboundSender:
    """Queues closed deals and delivers them as outbound messages in a background thread."""

    def __init__(
        self,
        url: str,
        org: OrgData,
        *,
        instance_url: Callable[[], str],
        verify: bool | str = True,
        base_delay: float = 0.05,
        max_delay: float = 2.0,
        max_attempts: int = 12,
        timeout: float = 10.0,
        session_id: str | None = None,
    ) -> None:
        self.url, self.org, self.instance_url = url, org, instance_url
        self.base_delay, self.max_delay, self.max_attempts, self.timeout = (
            base_delay,
            max_delay,
            max_attempts,
            timeout,
        )
        self.session_id = session_id
        self.action_id = derived_id("04k", org.options.org_key + ":closed-opportunity")
        self._http = requests.Session()
        self._http.verify = verify
        self._queue: list[_Delivery] = []
        self._cond = threading.Condition()
        self._in_flight = 0
        self._stopped = False
        self._counter = 0
        self.stats = {
            "messages": 0,
            "notifications": 0,
            "attempts": 0,
            "delivered": 0,
            "failed_attempts": 0,
            "dropped": 0,
        }
        self._thread = threading.Thread(target=self._run, name="salesforce-outbound", daemon=True)

    def start(self) -> OutboundSender:
        self._thread.start()
        return self

    def notify(self, deal_ids: Iterable[Any]) -> int:
        """Queue notifications for these world deal ids (≤ 100 per message); returns how many messages."""
        ids = [opp for d in deal_ids if (opp := sid("Opportunity", d)) is not None]
        with self._cond:
            notes = []
            for opp in ids:
                self._counter += 1
                notes.append((derived_id("04l", f"{self.action_id}:{self._counter}:{opp}"), opp))
            chunks = [notes[i : i + MAX_NOTIFICATIONS] for i in range(0, len(notes), MAX_NOTIFICATIONS)]
            self._queue.extend(_Delivery(chunk) for chunk in chunks)
            self.stats["messages"] += len(chunks)
            self.stats["notifications"] += len(notes)
            self._cond.notify_all()
        return len(chunks)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued message is delivered or dropped; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._http.close()

    def snapshot(self) -> dict[str, Any]:
        with self._cond:
            return {"url": self.url, "queued": len(self._queue) + self._in_flight, **self.stats}

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopped and not any(d.due <= time.monotonic() for d in self._queue):
                    wait = (
                        min((d.due for d in self._queue), default=time.monotonic() + 1.0) - time.monotonic()
                    )
                    self._cond.wait(max(0.005, wait))
                if self._stopped:
                    return
                delivery = next(d for d in self._queue if d.due <= time.monotonic())
                self._queue.remove(delivery)
                self._in_flight += 1
            delivered = self._send(delivery)
            with self._cond:
                self._in_flight -= 1
                if delivered:
                    self.stats["delivered"] += 1
                elif delivery.attempts >= self.max_attempts:
                    self.stats["dropped"] += 1
                else:
                    delivery.due = time.monotonic() + min(
                        self.max_delay, self.base_delay * 2 ** (delivery.attempts - 1)
                    )
                    self._queue.append(delivery)
                self._cond.notify_all()

    def _send(self, delivery: _Delivery) -> bool:
        delivery.attempts += 1
        self.stats["attempts"] += 1
        extra = (self.org.options.loss_reason_field,) if self.org.options.loss_reason_field else ()
        records = [(note, rec) for note, opp in delivery.notes if (rec := self.org.by_id("Opportunity", opp))]
        body = build_notifications(
            records,
            org_id=self.org.org_id,
            action_id=self.action_id,
            instance_url=self.instance_url(),
            session_id=self.session_id,
            extra_fields=extra,
        )
        try:
            response = self._http.post(
                self.url,
                data=body.encode(),
                timeout=self.timeout,
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            )
            ok = is_ack(response.status_code, response.content)
        except requests.RequestException:
            ok = False
        if not ok:
            self.stats["failed_attempts"] += 1
        return ok
