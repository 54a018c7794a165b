"""Open deals for write-back recommendations, read only when write-back asks (never stored).

Keyset paging by ``hs_object_id`` (so no 10,000 cap); per 1,000 deals one association call each for
emails and companies, then batch reads. The next step is the number of sequence emails already sent
plus one (sequences send one email per step, in order).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from feedbackloop.connectors.base import OpenDeal
from feedbackloop.connectors.hubspot.fetch import ASSOCIATION_BATCH, Fetcher
from feedbackloop.connectors.hubspot.mapping import SegmentRules, to_float

__all__ = ["open_deals"]

_EMAIL_PROPERTIES = ["hs_template_id", "hs_sequence_id", "hs_timestamp", "hs_email_direction"]


def _chunk(
    fetch: Fetcher, deals: list[tuple[str, dict[str, Any]]], rules: SegmentRules
) -> Iterator[OpenDeal]:
    ids = [d for d, _ in deals]
    emails_of = fetch.associations("deals", "emails", ids)
    companies_of = fetch.associations("deals", "companies", ids)
    companies = fetch.batch_read(
        "companies", sorted({c[0] for c in companies_of.values() if c}), ["numberofemployees"]
    )
    emails = fetch.batch_read("emails", [e for es in emails_of.values() for e in es], _EMAIL_PROPERTIES)
    for deal_id, props in deals:
        own = [emails[e] for e in emails_of.get(deal_id, []) if e in emails]
        outbound = sorted(
            (e for e in own if e.get("hs_email_direction") == "EMAIL"),
            key=lambda e: str(e.get("hs_timestamp")),
        )
        templates = tuple(
            dict.fromkeys(str(e["hs_template_id"]) for e in outbound if e.get("hs_template_id"))
        )
        steps = sum(1 for e in outbound if e.get("hs_sequence_id"))
        company_ids = companies_of.get(deal_id) or []
        employees = (
            to_float(companies.get(company_ids[0], {}).get("numberofemployees")) if company_ids else None
        )
        yield OpenDeal(
            deal_id=deal_id,
            segment=rules.segment(employees, to_float(props.get("amount"))),
            next_position=steps + 1,
            templates_received=templates,
        )


def open_deals(fetch: Fetcher, rules: SegmentRules) -> Iterator[OpenDeal]:
    """Every open deal of the portal, in id order."""
    last = "0"
    pending: list[tuple[str, dict[str, Any]]] = []
    while True:
        filters = [
            {"propertyName": "hs_is_closed", "operator": "EQ", "value": "false"},
            {"propertyName": "hs_object_id", "operator": "GT", "value": last},
        ]
        page = fetch.search("deals", filters, "hs_object_id", 0, ["amount", "hs_object_id"])
        pending.extend(page.records)
        if page.records:
            last = page.records[-1][0]
        done = not page.has_more or not page.records
        while len(pending) >= ASSOCIATION_BATCH or (done and pending):
            chunk, pending = pending[:ASSOCIATION_BATCH], pending[ASSOCIATION_BATCH:]
            yield from _chunk(fetch, chunk, rules)
        if done:
            return
