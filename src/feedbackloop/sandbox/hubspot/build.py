"""Turning the simulated world's frames into HubSpot records, pipelines and sequences.

Runs once per change of the world (start, advance, reset); requests then read the built tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from feedbackloop.sandbox.hubspot.build_email import add_emails, read_sequences, read_templates
from feedbackloop.sandbox.hubspot.frames import DAY_MS, FrameReader, flag, number, text
from feedbackloop.sandbox.hubspot.records import AssociationIndex, IdMap, ObjectTable, Record

__all__ = ["BuiltPortal", "build_portal"]


@dataclass
class BuiltPortal:
    """Everything derived from one state of the world."""

    tables: dict[str, ObjectTable]
    associations: AssociationIndex
    stages: list[dict[str, Any]]
    owners: list[dict[str, Any]]
    sequences: dict[str, dict[str, Any]]
    templates: dict[str, dict[str, Any]]
    currencies: list[str]
    now_ms: int
    start_ms: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def build_portal(world: Any, ids: IdMap) -> BuiltPortal:
    """Records for companies, contacts, deals and emails, plus pipeline stages, owners and sequences."""
    fr = FrameReader()
    now_ms = fr.ms(pd.Series([world.now]))[0] or 0
    assoc = AssociationIndex()
    tables = {name: ObjectTable() for name in ("companies", "contacts", "deals", "emails")}

    owners_f = world.owners_frame()
    owners = []
    owner_email: dict[str, str] = {}
    for row in owners_f.itertuples(index=False):
        oid = ids.hs("owner", row.owner_id) or ""
        owner_email[oid] = str(row.email)
        owners.append(
            {
                "id": oid,
                "email": str(row.email),
                "firstName": str(row.first_name),
                "lastName": str(row.last_name),
                "userId": int(row.user_id),
                "archived": False,
            }
        )

    companies = world.companies_frame()
    company_name: dict[str, str] = {}
    for row, created in zip(fr.rows(companies), fr.ms(companies["created_at"]), strict=True):
        cid = ids.hs("company", row.company_id) or ""
        company_name[cid] = str(row.name)
        tables["companies"].add(
            Record(
                cid,
                created or 0,
                created or 0,
                {
                    "name": str(row.name),
                    "domain": text(row.domain),
                    "industry": text(row.industry),
                    "numberofemployees": number(row.employees),
                    "createdate": fr.iso(created),
                    "hs_lastmodifieddate": fr.iso(created),
                    "hs_object_id": cid,
                },
            )
        )

    contacts = world.contacts_frame()
    contact_email: dict[str, str] = {}
    for row, created in zip(fr.rows(contacts), fr.ms(contacts["created_at"]), strict=True):
        pid = ids.hs("contact", row.contact_id) or ""
        company_id = ids.hs("company", row.company_id)
        contact_email[pid] = str(row.email)
        tables["contacts"].add(
            Record(
                pid,
                created or 0,
                created or 0,
                {
                    "firstname": text(row.first_name),
                    "lastname": text(row.last_name),
                    "email": text(row.email),
                    "company": company_name.get(company_id or ""),
                    "associatedcompanyid": company_id,
                    "createdate": fr.iso(created),
                    "lastmodifieddate": fr.iso(created),
                    "hs_object_id": pid,
                },
            )
        )
        if company_id:
            assoc.link("contacts", pid, "companies", company_id)

    stages_f = world.stages_frame().sort_values("display_order")
    stage_meta = {
        str(r.stage_id): (bool(r.is_closed), bool(r.is_won), float(r.probability))
        for r in stages_f.itertuples(index=False)
    }
    stages = [
        {
            "id": str(r.stage_id),
            "label": str(r.label),
            "displayOrder": int(r.display_order),
            "metadata": {"isClosed": flag(bool(r.is_closed)), "probability": repr(float(r.probability))},
        }
        for r in stages_f.itertuples(index=False)
    ]

    history = world.stage_history_frame()
    entered: dict[str, dict[str, int]] = {}
    for row, at in zip(fr.rows(history), fr.ms(history["entered_at"]), strict=True):
        if at is not None:
            entered.setdefault(str(row.deal_id), {})[str(row.stage_id)] = at

    deals = world.deals_frame()
    currencies = sorted({str(c) for c in deals["currency"].dropna().unique()}) if len(deals) else []
    cols = zip(
        fr.rows(deals),
        fr.ms(deals["created_at"]),
        fr.ms(deals["closed_at"]),
        fr.ms(deals["updated_at"]),
        strict=True,
    )
    for row, created, closed, updated in cols:
        did = ids.hs("deal", row.deal_id) or ""
        stage = str(row.stage_id)
        is_closed, is_won, probability = stage_meta.get(stage, (False, False, 0.0))
        props: dict[str, str | None] = {
            "dealname": text(row.name),
            "amount": number(row.amount),
            "deal_currency_code": text(row.currency),
            "closedate": fr.iso(closed),
            "createdate": fr.iso(created),
            "pipeline": "default",
            "dealstage": stage,
            "dealtype": "newbusiness",
            "description": None,
            "hubspot_owner_id": ids.hs("owner", row.owner_id),
            "closed_lost_reason": text(row.loss_reason) if is_closed and not is_won else None,
            "closed_won_reason": None,
            "hs_analytics_source": text(row.source),
            "hs_lastmodifieddate": fr.iso(updated),
            "hs_object_id": did,
            "hs_is_closed": flag(is_closed),
            "hs_is_closed_won": flag(is_closed and is_won),
            "hs_is_closed_lost": flag(is_closed and not is_won),
            "hs_deal_stage_probability": repr(probability),
            "hs_closed_won_date": fr.iso(closed) if is_closed and is_won else None,
            "days_to_close": str((closed - created) // DAY_MS) if closed and created else None,
            "competitor": text(row.competitor),
        }
        stage_times = entered.get(str(row.deal_id), {})
        for stage_id, at in stage_times.items():
            props[f"hs_v2_date_entered_{stage_id}"] = fr.iso(at)
        props["hs_v2_date_entered_current_stage"] = fr.iso(stage_times.get(stage))
        stage_changes = sorted(((at, st) for st, at in stage_times.items()), key=lambda pair: pair[0])
        history = {"dealstage": [(st, at) for at, st in stage_changes]}
        tables["deals"].by_id[did] = Record(
            did, created or 0, updated or created or 0, props, history=history
        )
        contact_id = ids.hs("contact", row.contact_id)
        company_id = ids.hs("company", row.company_id)
        if contact_id:
            assoc.link("deals", did, "contacts", contact_id)
        if company_id:
            assoc.link("deals", did, "companies", company_id)

    templates, template_body = read_templates(world, ids, fr, owners)
    add_emails(world, ids, fr, tables["emails"], assoc, template_body, owner_email, contact_email)
    sequences = read_sequences(world.sequences_frame(), ids, templates, owners)
    starts = [r.created for t in tables.values() for r in t.by_id.values() if r.created]
    start_ms = min(starts, default=now_ms)
    return BuiltPortal(tables, assoc, stages, owners, sequences, templates, currencies, now_ms, start_ms)
