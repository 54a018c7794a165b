"""The email side of the portal: templates, sequence definitions, and the emails and replies themselves.

Emails carry only what HubSpot's email object really has (reference §2.3): template and sequence ids and
engagement counts, but no step number; the step is derivable from the sequence definition.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from feedbackloop.sandbox.hubspot.frames import DAY_MS, FrameReader, number, text
from feedbackloop.sandbox.hubspot.records import AssociationIndex, IdMap, ObjectTable, Record
from feedbackloop.sandbox.hubspot.wire import iso_from_ms

__all__ = ["add_emails", "read_sequences", "read_templates"]


def read_templates(
    world: Any, ids: IdMap, fr: FrameReader, owners: list[dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Template bodies as the beta templates API shows them, and each template's body by id."""
    templates_f = world.templates_frame()
    templates: dict[str, dict[str, Any]] = {}
    template_body: dict[str, str] = {}
    for row, created in zip(fr.rows(templates_f), fr.ms(templates_f["created_at"]), strict=True):
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
    return templates, template_body


def add_emails(
    world: Any,
    ids: IdMap,
    fr: FrameReader,
    table: ObjectTable,
    assoc: AssociationIndex,
    template_body: dict[str, str],
    owner_email: dict[str, str],
    contact_email: dict[str, str],
) -> None:
    """Outbound emails (direction EMAIL) and replies (INCOMING_EMAIL), linked to their deal and contact."""
    msgs = world.messages_frame()
    mcols = zip(fr.rows(msgs), fr.ms(msgs["sent_at"]), fr.ms(msgs["updated_at"]), strict=True)
    for row, sent, updated in mcols:
        eid = ids.hs("email", row.message_id) or ""
        m_template = ids.hs("template", row.template_id)
        m_deal = ids.hs("deal", row.deal_id)
        m_contact = ids.hs("contact", row.contact_id)
        m_owner = ids.hs("owner", row.owner_id)
        table.add(
            Record(
                eid,
                sent or 0,
                updated or sent or 0,
                {
                    "hs_timestamp": fr.iso(sent),
                    "hs_email_subject": text(row.subject),
                    "hs_email_text": template_body.get(m_template or "", text(row.subject)),
                    "hs_email_html": None,
                    "hs_email_direction": "EMAIL",
                    "hs_email_status": "SENT",
                    "hubspot_owner_id": m_owner,
                    "hs_email_thread_id": text(row.thread_id),
                    "hs_email_from_email": owner_email.get(m_owner or ""),
                    "hs_email_to_email": contact_email.get(m_contact or ""),
                    "hs_in_reply_to_engagement_id": None,
                    "hs_createdate": fr.iso(sent),
                    "hs_lastmodifieddate": fr.iso(updated or sent),
                    "hs_object_id": eid,
                    "hs_sequence_id": ids.hs("sequence", row.sequence_id),
                    "hs_template_id": m_template,
                    "hs_email_sent_count": "1",
                    "hs_email_open_count": number(row.open_count),
                    "hs_email_click_count": number(row.click_count),
                    "hs_email_reply_count": "1" if bool(row.replied) else "0",
                },
            )
        )
        if m_deal:
            assoc.link("emails", eid, "deals", m_deal)
        if m_contact:
            assoc.link("emails", eid, "contacts", m_contact)

    replies = world.replies_frame()
    for row, sent in zip(fr.rows(replies), fr.ms(replies["sent_at"]), strict=True):
        eid = ids.hs("email", row.message_id) or ""
        m_deal = ids.hs("deal", row.deal_id)
        m_contact = ids.hs("contact", row.contact_id)
        table.add(
            Record(
                eid,
                sent or 0,
                sent or 0,
                {
                    "hs_timestamp": fr.iso(sent),
                    "hs_email_subject": text(row.subject),
                    "hs_email_text": text(row.text),
                    "hs_email_html": None,
                    "hs_email_direction": "INCOMING_EMAIL",
                    "hs_email_status": None,
                    "hubspot_owner_id": None,
                    "hs_email_thread_id": text(row.thread_id),
                    "hs_email_from_email": contact_email.get(m_contact or ""),
                    "hs_email_to_email": None,
                    "hs_in_reply_to_engagement_id": ids.hs("email", row.in_reply_to),
                    "hs_createdate": fr.iso(sent),
                    "hs_lastmodifieddate": fr.iso(sent),
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


def read_sequences(
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
                    "delayMillis": round(float(str(row.delay_days)) * DAY_MS),
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
