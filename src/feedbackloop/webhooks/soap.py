"""Salesforce outbound messages (reference §8.1): safe parsing of the SOAP ``notifications`` and the Ack.

Parsing goes through defusedxml with DTDs forbidden: no entity expansion (billion laughs), no external
entities or DTD fetches. Only what the listener needs is extracted; unknown elements are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from feedbackloop.errors import InputError

__all__ = ["ACK", "MAX_NOTIFICATIONS", "Notification", "OutboundMessage", "parse_outbound"]

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND_NS}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


@dataclass(frozen=True)
class Notification:
    """One notification: its id (the dedupe key), the sObject type and the fields sent (nulls omitted)."""

    id: str
    object_type: str
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    action_id: str | None
    notifications: list[Notification]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(parent: Element, name: str) -> str | None:
    child = parent.find(f"{{{OUTBOUND_NS}}}{name}")
    return None if child is None or child.text is None else child.text.strip()


def _notification(element: Element) -> Notification:
    note_id = _text(element, "Id")
    sobject = element.find(f"{{{OUTBOUND_NS}}}sObject")
    if not note_id or sobject is None:
        raise InputError("a Notification lacks its Id or sObject")
    object_type = _local(sobject.get(f"{{{XSI_NS}}}type", "")).split(":")[-1]
    values: dict[str, str] = {}
    for child in sobject:
        if child.get(f"{{{XSI_NS}}}nil") == "true" or len(child):
            continue
        values[_local(child.tag)] = (child.text or "").strip()
    if not values.get("Id"):
        raise InputError("a Notification's sObject lacks its Id")
    return Notification(note_id, object_type, values)


def parse_outbound(raw: bytes) -> OutboundMessage:
    """Parse an outbound message envelope, or raise :class:`InputError` (never expands entities)."""
    try:
        root = SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError, UnicodeDecodeError):
        raise InputError("the body is not a well-formed XML document without DTD or entities") from None
    if root.tag != f"{{{SOAP_NS}}}Envelope":
        raise InputError("not a SOAP 1.1 envelope")
    body = root.find(f"{{{SOAP_NS}}}Body")
    notes = None if body is None else body.find(f"{{{OUTBOUND_NS}}}notifications")
    if notes is None:
        raise InputError("the SOAP body holds no outbound notifications")
    org = _text(notes, "OrganizationId")
    if not org:
        raise InputError("the message lacks its OrganizationId")
    elements = notes.findall(f"{{{OUTBOUND_NS}}}Notification")
    if not elements or len(elements) > MAX_NOTIFICATIONS:
        raise InputError(f"a message holds 1 to {MAX_NOTIFICATIONS} notifications")
    return OutboundMessage(org, _text(notes, "ActionId"), [_notification(e) for e in elements])
