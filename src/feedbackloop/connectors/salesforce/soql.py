"""The SOQL the connector sends, built in one place (values escaped with simple-salesforce's formatter).

Opportunities are read by the ``(SystemModstamp, Id)`` keyset (reference §4.4), with stage history,
competitors and contact roles as child subqueries so that one page of opportunities is one call.
EmailMessages are read for a chunk of opportunity ids at a time; the chunk is kept under the URI limit
(16,384 bytes, reference §4.1).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from simple_salesforce.format import format_soql

__all__ = [
    "MAX_IDS_PER_QUERY",
    "email_fields",
    "email_query",
    "open_opportunity_query",
    "opportunity_query",
    "relation_query",
    "soql_datetime",
    "stage_query",
    "step_query",
    "template_query",
    "unlinked_email_query",
]

#: 18-char ids URL-encode to ~27 bytes in an IN list: 400 of them stay well under the 16 KB URI limit.
MAX_IDS_PER_QUERY = 400


def soql_datetime(value: datetime) -> str:
    """A SOQL datetime literal (unquoted UTC, millisecond precision)."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def stage_query() -> str:
    return "SELECT ApiName, MasterLabel, IsClosed, IsWon, SortOrder FROM OpportunityStage"


def opportunity_query(since: datetime | None, *, loss_reason_field: str | None) -> str:
    """Closed opportunities with ``SystemModstamp >= since``, in ``(SystemModstamp, Id)`` order.

    The caller has already moved ``since`` back by the look-back and skips what it has seen.
    """
    fields = [
        "Id",
        "StageName",
        "IsClosed",
        "IsWon",
        "Amount",
        "CloseDate",
        "CreatedDate",
        "SystemModstamp",
        "OwnerId",
        "LeadSource",
        "ContactId",
        "AccountId",
        "Account.Industry",
        "Account.NumberOfEmployees",
    ]
    if loss_reason_field:
        fields.append(loss_reason_field)
    children = [
        "(SELECT StageName, CreatedDate FROM OpportunityHistories ORDER BY CreatedDate)",
        "(SELECT CompetitorName FROM OpportunityCompetitors)",
        "(SELECT ContactId, IsPrimary FROM OpportunityContactRoles)",
    ]
    where = "IsClosed = true"
    if since is not None:
        where += f" AND SystemModstamp >= {soql_datetime(since)}"
    return f"SELECT {', '.join(fields + children)} FROM Opportunity WHERE {where} ORDER BY SystemModstamp, Id"


def open_opportunity_query() -> str:
    """Open opportunities (for next-template advice), in id order."""
    return (
        "SELECT Id, AccountId, Account.NumberOfEmployees, ContactId, CreatedDate, CloseDate, IsClosed, "
        "(SELECT ContactId, IsPrimary FROM OpportunityContactRoles) "
        "FROM Opportunity WHERE IsClosed = false ORDER BY Id"
    )


def email_fields(*, has_reply: bool, has_click: bool, has_tracker: bool) -> list[str]:
    """The EmailMessage fields the sync reads (optional ones only where the org has them)."""
    fields = ["Id", "RelatedToId", "Incoming", "MessageDate", "ThreadIdentifier", "IsOpened",
              "EmailTemplateId", "TextBody"]  # fmt: skip
    if has_reply:
        fields.append("HasReply")
    if has_click:
        fields.append("FirstLinkClickedDate")
    if has_tracker:
        fields += ["ActionCadenceStepTrackerId", "ActionCadenceStepTracker.ActionCadenceStepId"]
    return fields


def email_query(opportunity_ids: Sequence[str], **flags: bool) -> str:
    """Outbound and incoming emails related to the opportunities (the text only for replies' features)."""
    return format_soql(
        f"SELECT {', '.join(email_fields(**flags))} FROM EmailMessage WHERE RelatedToId IN {{}} "
        "ORDER BY MessageDate, Id",
        list(opportunity_ids),
    )


def relation_query(contact_ids: Sequence[str]) -> str:
    """Which emails went to or came from these contacts (``EmailMessageRelation``, reference §2.2)."""
    return format_soql(
        "SELECT EmailMessageId, RelationId FROM EmailMessageRelation WHERE RelationId IN {} "
        "AND RelationType IN ('ToAddress', 'FromAddress')",
        list(contact_ids),
    )


def unlinked_email_query(email_ids: Sequence[str], **flags: bool) -> str:
    """These emails, when they are not related to any record (logged from an inbox, say)."""
    return format_soql(
        f"SELECT {', '.join(email_fields(**flags))} FROM EmailMessage "
        "WHERE Id IN {} AND RelatedToId = null ORDER BY MessageDate, Id",
        list(email_ids),
    )


def template_query(since: datetime | None) -> str:
    where = f" WHERE SystemModstamp > {soql_datetime(since)}" if since else ""
    fields = "Id, Name, Subject, Body, SystemModstamp"
    return f"SELECT {fields} FROM EmailTemplate{where} ORDER BY SystemModstamp, Id"


def step_query() -> str:
    """Every cadence step: the graph (StepName/ParentStepName) gives positions, TemplateId the template."""
    return (
        "SELECT Id, ActionCadenceId, StepName, ParentStepName, Type, TemplateId, IsOrphan "
        "FROM ActionCadenceStep"
    )
