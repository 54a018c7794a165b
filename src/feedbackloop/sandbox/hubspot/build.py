"""Turning the simulated world's frames into HubSpot records, pipelines and sequences.

Runs once per change of the world (start, advance, reset); requests then read the built tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from feedbackloop.sandbox.hubspot.records import AssociationIndex, IdMap, ObjectTable, Record
from feedbackloop.sandbox.hubspot.wire import iso_from_ms

__all__ = ["BuiltPortal", "build_portal"]

_DAY_MS = 86_400_000


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


def _ms_list(series: pd.Series) -> list[int | None]:
    """Milliseconds since the epoch for a datetime column (None for NaT), vectorised."""
    if len(series) == 0:
        return []
    values = pd.to_datetime(series, utc=True)
    epoch = pd.Timestamp(0, tz="UTC")
    millis = (values - epoch) // pd.Timedelta(milliseconds=1)
    return [None if pd.isna(v) else int(v) for v in millis]


def _text(value: Any) -> str | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return str(value)


def _number(value: Any) -> str | None:
    if value is None or pd.isna(value):
        return None
    number = float(value)
    return str(int(number)) if number.is_integer() else f"{number:.2f}".rstrip("0")


def _flag(value: bool) -> str:
    return "true" if value else "false"


def build_portal(world: Any, ids: IdMap) -> BuiltPortal:
    """Records for companies, contacts, deals and emails, plus pipeline stages, owners and sequences."""
    now_ms = _ms_list(pd.Series([world.now]))[0] or 0
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
    for row, created in zip(
        companies.itertuples(index=False), _ms_list(companies["created_at"]), strict=True
    ):
        cid = ids.hs("company", row.company_id) or ""
        company_name[cid] = str(row.name)
        tables["companies"].add(
            Record(
                cid,
                created or 0,
                created or 0,
                {
                    "name": str(row.name),
                    "domain": _text(row.domain),
                    "industry": _text(row.industry),
                    "numberofemployees": _number(row.employees),
                    "createdate": iso_from_ms(created),
                    "hs_lastmodifieddate": iso_from_ms(created),
                    "hs_object_id": cid,
                },
            )
        )

    contacts = world.contacts_frame()
    contact_email: dict[str, str] = {}
    for row, created in zip(contacts.itertuples(index=False), _ms_list(contacts["created_at"]), strict=True):
        pid = ids.hs("contact", row.contact_id) or ""
        company_id = ids.hs("company", row.company_id)
        contact_email[pid] = str(row.email)
        tables["contacts"].add(
            Record(
                pid,
                created or 0,
                created or 0,
                {
                    "firstname": _text(row.first_name),
                    "lastname": _text(row.last_name),
                    "email": _text(row.email),
                    "company": company_name.get(company_id or ""),
                    "associatedcompanyid": company_id,
                    "createdate": iso_from_ms(created),
                    "lastmodifieddate": iso_from_ms(created),
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
            "metadata": {"isClosed": _flag(bool(r.is_closed)), "probability": repr(float(r.probability))},
        }
        for r in stages_f.itertuples(index=False)
    ]

    history = world.stage_history_frame()
    entered: dict[str, dict[str, int]] = {}
    for row, at in zip(history.itertuples(index=False), _ms_list(history["entered_at"]), strict=True):
        if at is not None:
            entered.setdefault(str(row.deal_id), {})[str(row.stage_id)] = at

    deals = world.deals_frame()
    currencies = sorted({str(c) for c in deals["currency"].dropna().unique()}) if len(deals) else []
    cols = zip(
        deals.itertuples(index=False),
        _ms_list(deals["created_at"]),
        _ms_list(deals["closed_at"]),
        _ms_list(deals["updated_at"]),
        strict=True,
    )
    for row, created, closed, updated in cols:
        did = ids.hs("deal", row.deal_id) or ""
        stage = str(row.stage_id)
        is_closed, is_won, probability = stage_meta.get(stage, (False, False, 0.0))
        props: dict[str, str | None] = {
            "dealname": _text(row.name),
            "amount": _number(row.amount),
            "deal_currency_code": _text(row.currency),
            "closedate": iso_from_ms(closed),
            "createdate": iso_from_ms(created),
            "pipeline": "default",
            "dealstage": stage,
            "dealtype": "newbusiness",
            "description": None,
            "hubspot_owner_id": ids.hs("owner", row.owner_id),
            "closed_lost_reason": _text(row.loss_reason) if is_closed and not is_won else None,
            "closed_won_reason": None,
            "hs_analytics_source": _text(row.source),
            "hs_lastmodifieddate": iso_from_ms(updated),
            "hs_object_id": did,
            "hs_is_closed": _flag(is_closed),
            "hs_is_closed_won": _flag(is_closed and is_won),
            "hs_is_closed_lost": _flag(is_closed and not is_won),
            "hs_deal_stage_probability": repr(probability),
            "hs_closed_won_date": iso_from_ms(closed) if is_closed and is_won else None,
            "days_to_close": str((closed - created) // _DAY_MS) if closed and created else None,
            "competitor": _text(row.competitor),
        }
        stage_times = entered.get(str(row.deal_id), {})
        for stage_id, at in stage_times.items():
            props[f"hs_v2_date_entered_{stage_id}"] = iso_from_ms(at)
        props["hs_v2_date_entered_current_stage"] = iso_from_ms(stage_times.get(stage))
        stage_changes = sorted(((at, st) for st, at in stage_times.items()), key=lambda pair: pair[0])
        history = {"dealstage": [(st, at) for at, st in stage_changes]}
        tables["deals"].add(Record(did, created or 0, updated or created or 0, props, history=history))
        contact_id = ids.hs("contact", row.contact_id)
        company_id = ids.hs("company", row.company_id)
        if contact_id:
            assoc.link("deals", did, "contacts", contact_id)
        if company_id:
            assoc.link("deals", did, "companies", company_id)

    templates_f = world.templates_frame()
    templates: dict[str, dict[str, Any]] = {}
    template_body: dict[str, str] = {}
    for row, created in zip(
        templates_f.itertuples(index=False), _ms_list(templates_f["created_at"]), strict=True
    ):
        tid = ids.hs("template", row.template_id) or ""
        template_body[tid] = str(row.body)
        templates[tid] = {
            "id": tid,
            "name": str(row.name),
            "subject": str(row.subject),
            "body": str(row.body),
            "folderId": "1",
            "ownerId": owners[0]["id"] if owners else None,
            "createdAt": created or 0,  # this beta API gives ms epochs, not ISO strings
            "updatedAt": created or 0,
        }

    msgs = world.messages_frame()
    mcols = zip(
        msgs.itertuples(index=False), _ms_list(msgs["sent_at"]), _ms_list(msgs["updated_at"]), strict=True
    )
    for row, sent, updated in mcols:
        eid = ids.hs("email", row.message_id) or ""
        m_template = ids.hs("template", row.template_id)
        m_deal = ids.hs("deal", row.deal_id)
        m_contact = ids.hs("contact", row.contact_id)
        m_owner = ids.hs("owner", row.owner_id)
        tables["emails"].add(
            Record(
                eid,
                sent or 0,
                updated or sent or 0,
                {
                    "hs_timestamp": iso_from_ms(sent),
                    "hs_email_subject": _text(row.subject),
                    "hs_email_text": template_body.get(m_template or "", _text(row.subject)),
                    "hs_email_html": None,
                    "hs_email_direction": "EMAIL",
                    "hs_email_status": "SENT",
                    "hubspot_owner_id": m_owner,
                    "hs_email_thread_id": _text(row.thread_id),
                    "hs_email_from_email": owner_email.get(m_owner or ""),
                    "hs_email_to_email": contact_email.get(m_contact or ""),
                    "hs_in_reply_to_engagement_id": None,
                    "hs_createdate": iso_from_ms(sent),
                    "hs_lastmodifieddate": iso_from_ms(updated or sent),
                    "hs_object_id": eid,
                    "hs_sequence_id": ids.hs("sequence", row.sequence_id),
                    "hs_template_id": m_template,
                    "hs_email_sent_count": "1",
                    "hs_email_open_count": _number(row.open_count),
                    "hs_email_click_count": _number(row.click_count),
                    "hs_email_reply_count": "1" if bool(row.replied) else "0",
                },
            )
        )
        if m_deal:
            assoc.link("emails", eid, "deals", m_deal)
        if m_contact:
            assoc.link("emails", eid, "contacts", m_contact)

    replies = world.replies_frame()
    for row, sent in zip(replies.itertuples(index=False), _ms_list(replies["sent_at"]), strict=True):
        eid = ids.hs("email", row.message_id) or ""
        m_deal = ids.hs("deal", row.deal_id)
        m_contact = ids.hs("contact", row.contact_id)
        tables["emails"].add(
            Record(
                eid,
                sent or 0,
                sent or 0,
                {
                    "hs_timestamp": iso_from_ms(sent),
                    "hs_email_subject": _text(row.subject),
                    "hs_email_text": _text(row.text),
                    "hs_email_html": None,
                    "hs_email_direction": "INCOMING_EMAIL",
                    "hs_email_status": None,
                    "hubspot_owner_id": None,
                    "hs_email_thread_id": _text(row.thread_id),
                    "hs_email_from_email": contact_email.get(m_contact or ""),
                    "hs_email_to_email": None,
                    "hs_in_reply_to_engagement_id": ids.hs("email", row.in_reply_to),
                    "hs_createdate": iso_from_ms(sent),
                    "hs_lastmodifieddate": iso_from_ms(sent),
                    "hs_object_id": eid,
                    "hs_sequence_id": None,
                    "hs_template_id": None,
                    "hs_email_sent_count": None,
                    "hs_email_open_count": None,
                    "hs_email_click_count": None,
                    "hs_email_reply_count": None,
                },
            )
        )
        if m_deal:
            assoc.link("emails", eid, "deals", m_deal)
        if m_contact:
            assoc.link("emails", eid, "contacts", m_contact)

    sequences = _sequences(world.sequences_frame(), ids, templates, owners)
    starts = [r.created for t in tables.values() for r in t.by_id.values() if r.created]
    start_ms = min(starts, default=now_ms)
    return BuiltPortal(tables, assoc, stages, owners, sequences, templates, currencies, now_ms, start_ms)


def _sequences(
    frame: pd.DataFrame, ids: IdMap, templates: dict[str, dict[str, Any]], owners: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """``GET /automation/v4/sequences/{id}`` bodies: one EMAIL step per world step (stepOrder 0-based)."""
    out: dict[str, dict[str, Any]] = {}
    user_id = str(owners[0]["userId"]) if owners else "1"
    grouped: dict[str, list[Any]] = {}
    for row in frame.sort_values(["sequence_id", "position"]).itertuples(index=False):
        grouped.setdefault(str(row.sequence_id), []).append(row)
    for seq_id, rows in grouped.items():
        sid = ids.hs("sequence", seq_id) or ""
        tids = [ids.hs("template", r.template_id) or "" for r in rows]
        created = iso_from_ms(
            min((int(templates[t]["createdAt"]) for t in tids if t in templates), default=0)
        )
        body_steps = []
        for row, tid in zip(rows, tids, strict=True):
            order = int(str(row.position)) - 1
            body_steps.append(
                {
                    "id": f"{sid}{order:03d}",
                    "stepOrder": order,
                    "actionType": "EMAIL",
                    "delayMillis": round(float(str(row.delay_days)) * _DAY_MS),
                    "createdAt": created,
                    "updatedAt": created,
                    "emailPattern": {
                        "id": f"{sid}{order:03d}1",
                        "templateId": tid,
                        "threadEmailToStepOrder": 0,
                        "createdAt": created,
                        "updatedAt": created,
                    },
                }
            )
        out[sid] = {
            "id": sid,
            "name": str(rows[0].name),
            "userId": user_id,
            "folderId": "1",
            "createdAt": created,
            "updatedAt": created,
            "settings": {
                "id": f"{sid}9",
                "sellingStrategy": "LEAD_BASED",
                "eligibleFollowUpDays": "BUSINESS_DAYS",
                "sendWindowStartMinute": 480,
                "sendWindowEndMinute": 1080,
                "taskReminderMinute": 480,
                "individualTaskRemindersEnabled": False,
                "createdAt": created,
                "updatedAt": created,
            },
            "steps": body_steps,
            "dependencies": [],
        }
    return out
