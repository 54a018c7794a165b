"""Emails linked to an opportunity only through its contact roles.

Emails logged from an inbox often have no ``RelatedToId``; they reach the opportunity through the people
on it: ``EmailMessageRelation`` (reference §2.2) names the contact an email went to (or came from), and
``OpportunityContactRole`` names the opportunities that contact is on. An email is attributed to the
contact's opportunity that was open when it was sent (created before it, closed at most a day after);
when several were, to the most recently created one. Orgs without ``EmailMessageRelation`` skip this.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from feedbackloop.connectors.salesforce.client import SalesforceClient
from feedbackloop.connectors.salesforce.mapping import parse_time
from feedbackloop.connectors.salesforce.soql import MAX_IDS_PER_QUERY, relation_query, unlinked_email_query

__all__ = ["attribute_emails", "contact_roles", "emails_via_contact_roles"]

_GRACE = timedelta(days=1)


def contact_roles(record: Mapping[str, Any]) -> list[str]:
    """Every contact on the opportunity (its contact roles, else its ``ContactId``)."""
    roles = record.get("OpportunityContactRoles")
    rows = list(roles.get("records") or []) if isinstance(roles, Mapping) else []
    contacts = [str(r["ContactId"]) for r in rows if r.get("ContactId")]
    if not contacts and record.get("ContactId"):
        contacts = [str(record["ContactId"])]
    return list(dict.fromkeys(contacts))


def _window(record: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    closed = parse_time(record.get("CloseDate")) if record.get("IsClosed") else None
    return parse_time(record.get("CreatedDate")), (closed + _GRACE) if closed else None


def attribute_emails(
    emails: list[dict[str, Any]],
    relations: Sequence[Mapping[str, Any]],
    opportunities: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The emails that belong to one of ``opportunities``, with ``RelatedToId`` set to it."""
    opps_of: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for opp in opportunities:
        for contact in contact_roles(opp):
            opps_of[contact].append(opp)
    contacts_of: dict[str, list[str]] = defaultdict(list)
    for rel in relations:
        if rel.get("EmailMessageId") and rel.get("RelationId"):
            contacts_of[str(rel["EmailMessageId"])].append(str(rel["RelationId"]))
    out = []
    for email in emails:
        sent = parse_time(email.get("MessageDate"))
        if sent is None:
            continue
        candidates = []
        for contact in contacts_of.get(str(email.get("Id")), []):
            for opp in opps_of.get(contact, []):
                start, end = _window(opp)
                if (start is None or start <= sent) and (end is None or sent <= end):
                    candidates.append((start or sent, str(opp["Id"])))
        if candidates:
            out.append({**email, "RelatedToId": max(candidates)[1]})
    return out


def emails_via_contact_roles(
    client: SalesforceClient, opportunities: Sequence[Mapping[str, Any]], flags: Mapping[str, bool]
) -> list[dict[str, Any]]:
    """Unlinked emails of the opportunities' contacts, attributed to the opportunities (2+ calls)."""
    contacts = list(dict.fromkeys(c for opp in opportunities for c in contact_roles(opp)))
    relations: list[dict[str, Any]] = []
    for start in range(0, len(contacts), MAX_IDS_PER_QUERY):
        chunk = contacts[start : start + MAX_IDS_PER_QUERY]
        relations += client.query(relation_query(chunk), "the email recipient query")
    email_ids = list(dict.fromkeys(str(r["EmailMessageId"]) for r in relations if r.get("EmailMessageId")))
    emails: list[dict[str, Any]] = []
    for start in range(0, len(email_ids), MAX_IDS_PER_QUERY):
        chunk = email_ids[start : start + MAX_IDS_PER_QUERY]
        emails += client.query(unlinked_email_query(chunk, **flags), "the unlinked email query")
    return attribute_emails(emails, relations, opportunities)
