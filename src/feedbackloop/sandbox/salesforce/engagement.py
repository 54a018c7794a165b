"""Email and Sales Engagement records from the world: templates, cadences, trackers and EmailMessages."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta
from typing import Any

from feedbackloop.sandbox.salesforce.objects import (
    Record,
    WorldFrames,
    _audit,
    _fraction,
    _rows,
    developer_name,
    sid,
)

__all__ = ["engagement_tables"]


def _step_key(sequence_id: Any, position: Any) -> str:
    return f"{sequence_id}:{int(position)}"


def _cadences(world: WorldFrames, messages: list[dict[str, Any]], out: dict[str, list[Record]]) -> None:
    templates = {t["template_id"]: t for t in _rows(world.templates_frame())}
    sent, opened, clicked, replied = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
    total_opens, by_template = Counter[Any](), Counter[Any]()
    for m in messages:
        if m["template_id"] is not None:
            by_template[m["template_id"]] += 1
            total_opens[m["template_id"]] += int(m["open_count"] or 0)
        if m["sequence_id"] is None or m["position"] is None:
            continue
        key = _step_key(m["sequence_id"], m["position"])
        sent[key] += 1
        opened[key] += bool(m["opened"])
        clicked[key] += bool(m["clicked"])
        replied[key] += bool(m["replied"])
    deals_by_cadence: dict[Any, set[Any]] = defaultdict(set)
    for m in messages:
        deals_by_cadence[m["sequence_id"]].add(m["deal_id"])
    for t in templates.values():
        count = by_template[t["template_id"]]
        out["EmailTemplate"].append(
            {
                "Id": sid("EmailTemplate", t["template_id"]),
                **_audit(t["created_at"]),
                "Name": t["name"],
                "DeveloperName": developer_name(str(t["name"])),
                "Subject": t["subject"],
                "Body": t["body"],
                "HtmlValue": None,
                "FolderId": None,
                "FolderName": "Sales Templates",
                "IsActive": t["status"] != "deprecated",
                "TemplateType": "text",
                "UiType": "SFX",
                "Description": None,
                "OwnerId": None,
                "TotalSent": count,
                "TotalDelivered": count,
                "TotalOpens": total_opens[t["template_id"]],
                "TotalHardBounced": 0,
                "TotalSoftBounced": 0,
                "DeliveryRate": 100.0 if count else None,
            }
        )
    steps = sorted(_rows(world.sequences_frame()), key=lambda s: (str(s["sequence_id"]), int(s["position"])))
    by_cadence: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for s in steps:
        by_cadence[s["sequence_id"]].append(s)
    for sequence_id, cadence_steps in by_cadence.items():
        cadence_id = sid("ActionCadence", sequence_id)
        created = min(
            (
                templates[s["template_id"]]["created_at"]
                for s in cadence_steps
                if s["template_id"] in templates
            ),
            default=world.now,
        )
        targets = len(deals_by_cadence[sequence_id])
        out["ActionCadence"].append(
            {
                "Id": cadence_id,
                **_audit(created),
                "Name": cadence_steps[0]["name"],
                "State": "Active",
                "Type": "Standard",
                "ActivatedDate": created,
                "OwnerId": None,
                "Description": None,
                "TotalSteps": len(cadence_steps),
                "TotalTargets": targets,
                "ActiveTargets": 0,
            }
        )
        parent: str | None = None
        root_id = sid("ActionCadenceStep", _step_key(sequence_id, cadence_steps[0]["position"]))
        for s in cadence_steps:
            key = _step_key(sequence_id, s["position"])
            common = {
                "ActionCadenceId": cadence_id,
                "RootStepId": root_id,
                "GraphState": "Included",
                "IsOrphan": False,
                "TemplateId": None,
                "IsThreaded": False,
                "HasVariant": False,
                **_audit(created),
            }
            delay = float(s["delay_days"] or 0)
            if parent is not None and delay > 0:
                wait_name = f"Wait_{sequence_id}_{int(s['position'])}"
                out["ActionCadenceStep"].append(
                    {
                        "Id": sid("ActionCadenceStep", key + ":wait"),
                        **common,
                        "StepName": wait_name,
                        "ParentStepName": parent,
                        "Type": "Wait",
                        "StepTitle": f"Wait {delay:g} days",
                        "WaitTimeInSeconds": int(delay * 86400),
                        **dict.fromkeys(_COUNT_FIELDS, 0),
                    }
                )
                parent = wait_name
            name = f"Email_{sequence_id}_{int(s['position'])}"
            out["ActionCadenceStep"].append(
                {
                    "Id": sid("ActionCadenceStep", key),
                    **common,
                    "StepName": name,
                    "ParentStepName": parent,
                    "Type": "SendAnEmail",
                    "StepTitle": f"Email {int(s['position'])}",
                    "TemplateId": sid("EmailTemplate", s["template_id"]),
                    "IsThreaded": parent is not None,
                    "WaitTimeInSeconds": None,
                    "AllEmailsSentCount": sent[key],
                    "AllEmailsDeliveredCount": sent[key],
                    "AllEmailsBouncedCount": 0,
                    "AllEmailsOpenedCount": opened[key],
                    "UniqueEmailsOpenedCount": opened[key],
                    "AllEmailsLinkClickedCount": clicked[key],
                    "UniqueEmailsLinkClickedCount": clicked[key],
                    "AllEmailsRepliedCount": replied[key],
                    "UniqueEmailsRepliedCount": replied[key],
                }
            )
            parent = name


_COUNT_FIELDS = (
    "AllEmailsSentCount",
    "AllEmailsDeliveredCount",
    "AllEmailsBouncedCount",
    "AllEmailsOpenedCount",
    "UniqueEmailsOpenedCount",
    "AllEmailsLinkClickedCount",
    "UniqueEmailsLinkClickedCount",
    "AllEmailsRepliedCount",
    "UniqueEmailsRepliedCount",
)


def _trackers(world: WorldFrames, messages: list[dict[str, Any]], out: dict[str, list[Record]]) -> None:
    deals = {d["deal_id"]: d for d in _rows(world.deals_frame()[["deal_id", "closed_at", "owner_id"]])}
    steps_per_cadence = Counter(str(s["sequence_id"]) for s in _rows(world.sequences_frame()))
    by_tracker: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
    for m in messages:
        if m["sequence_id"] is not None and m["position"] is not None:
            by_tracker[(m["deal_id"], m["sequence_id"])].append(m)
    for (deal_id, sequence_id), sent in by_tracker.items():
        sent.sort(key=lambda m: m["sent_at"])
        tracker_id = sid("ActionCadenceTracker", f"{deal_id}:{sequence_id}")
        deal = deals.get(deal_id, {})
        complete = deal.get("closed_at") is not None or len(sent) >= steps_per_cadence[str(sequence_id)]
        last_step_tracker = sid("ActionCadenceStepTracker", sent[-1]["message_id"])
        out["ActionCadenceTracker"].append(
            {
                "Id": tracker_id,
                **_audit(sent[0]["sent_at"], sent[-1]["sent_at"]),
                "ActionCadenceId": sid("ActionCadence", sequence_id),
                "TargetId": sid("Contact", sent[0]["contact_id"]),
                "OwnerId": sid("User", deal.get("owner_id")),
                "State": "Complete" if complete else "Running",
                "IsTrackerActive": not complete,
                "CompletionReason": (
                    "NoMoreSteps" if deal.get("closed_at") is None else "AutomaticallyExited"
                )
                if complete
                else None,
                "CompletionDisposition": None,
                "CurrentStepId": None if complete else last_step_tracker,
                "LastCompletedStepId": last_step_tracker,
                "RelatedToId": sid("Opportunity", deal_id),
                "RelatedToAttributionType": "Maturation",
            }
        )
        for m in sent:
            out["ActionCadenceStepTracker"].append(
                {
                    "Id": sid("ActionCadenceStepTracker", m["message_id"]),
                    **_audit(m["sent_at"]),
                    "ActionCadenceId": sid("ActionCadence", sequence_id),
                    "ActionCadenceName": None,
                    "TargetId": sid("Contact", m["contact_id"]),
                    "ActionCadenceStepId": sid("ActionCadenceStep", _step_key(sequence_id, m["position"])),
                    "ActionCadenceTrackerId": tracker_id,
                    "State": "Completed",
                    "StepType": "SendAnEmail",
                    "StepTitle": f"Email {int(m['position'])}",
                    "CompletionDate": m["sent_at"],
                    "CompletionReason": "AutomaticallyCompleted",
                    "ActionTakenDateTime": m["sent_at"],
                    "IsActionTaken": True,
                    "DueDateTime": m["sent_at"],
                }
            )


def _emails(
    world: WorldFrames, messages: list[dict[str, Any]], template_id_rate: float, out: dict[str, list[Record]]
) -> None:
    emails = {c["contact_id"]: c["email"] for c in _rows(world.contacts_frame()[["contact_id", "email"]])}
    owners = {o["owner_id"]: o["email"] for o in _rows(world.owners_frame()[["owner_id", "email"]])}
    bodies = {t["template_id"]: t["body"] for t in _rows(world.templates_frame()[["template_id", "body"]])}
    for m in messages:
        key = str(m["message_id"])
        with_template = m["template_id"] is not None and _fraction("tpl:" + key) < template_id_rate
        sent_at = m["sent_at"]
        first_open = sent_at + timedelta(hours=1 + 47 * _fraction("open:" + key)) if m["opened"] else None
        in_cadence = m["sequence_id"] is not None and m["position"] is not None
        out["EmailMessage"].append(
            {
                "Id": sid("EmailMessage", key),
                **_audit(sent_at, m["updated_at"]),
                "Subject": m["subject"],
                "TextBody": bodies.get(m["template_id"]),
                "HtmlBody": None,
                "MessageDate": sent_at,
                "Incoming": False,
                "Status": "3",
                "RelatedToId": sid("Opportunity", m["deal_id"]),
                "ActivityId": None,
                "EmailTemplateId": sid("EmailTemplate", m["template_id"]) if with_template else None,
                "FromAddress": owners.get(m["owner_id"]),
                "FromName": None,
                "ToAddress": emails.get(m["contact_id"]),
                "CcAddress": None,
                "ThreadIdentifier": m["thread_id"],
                "MessageIdentifier": f"<{key}@sandbox.feedbackloop>",
                "ReplyToEmailMessageId": None,
                "IsTracked": True,
                "IsOpened": bool(m["opened"]),
                "FirstOpenedDate": first_open,
                "LastOpenedDate": first_open + timedelta(hours=int(m["open_count"] or 1) - 1)
                if first_open
                else None,
                "IsBounced": False,
                "IsClientManaged": False,
                "HasReply": bool(m["replied"]),
                "FirstLinkClickedDate": sent_at + timedelta(hours=2) if m["clicked"] else None,
                "ActionCadenceStepTrackerId": sid("ActionCadenceStepTracker", key) if in_cadence else None,
            }
        )
    for r in _rows(world.replies_frame()):
        key = str(r["message_id"])
        out["EmailMessage"].append(
            {
                "Id": sid("EmailMessage", key),
                **_audit(r["sent_at"]),
                "Subject": r["subject"],
                "TextBody": r["text"],
                "HtmlBody": None,
                "MessageDate": r["sent_at"],
                "Incoming": True,
                "Status": "0",
                "RelatedToId": sid("Opportunity", r["deal_id"]),
                "ActivityId": None,
                "EmailTemplateId": None,
                "FromAddress": emails.get(r["contact_id"]),
                "FromName": None,
                "ToAddress": None,
                "CcAddress": None,
                "ThreadIdentifier": r["thread_id"],
                "MessageIdentifier": f"<{key}@sandbox.feedbackloop>",
                "ReplyToEmailMessageId": None,
                "IsTracked": False,
                "IsOpened": False,
                "FirstOpenedDate": None,
                "LastOpenedDate": None,
                "IsBounced": False,
                "IsClientManaged": False,
                "HasReply": False,
                "FirstLinkClickedDate": None,
                "ActionCadenceStepTrackerId": None,
            }
        )


def engagement_tables(world: WorldFrames, template_id_rate: float) -> dict[str, list[Record]]:
    """EmailTemplate, ActionCadence*, and EmailMessage records (outbound and incoming replies)."""
    out: dict[str, list[Record]] = defaultdict(list)
    messages = _rows(world.messages_frame())
    _cadences(world, messages, out)
    _trackers(world, messages, out)
    _emails(world, messages, template_id_rate, out)
    return dict(out)
