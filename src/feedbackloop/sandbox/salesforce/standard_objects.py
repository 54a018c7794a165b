"""The standard objects the connector reads, with the fields the Salesforce object reference documents
(see `reference/salesforce-api.md` §1–3); ``optional`` fields exist only in some orgs."""

from __future__ import annotations

from typing import Any

from feedbackloop.sandbox.salesforce.ids import KEY_PREFIXES
from feedbackloop.sandbox.salesforce.schema import FieldDef, ObjectDef

__all__ = ["audit_fields", "field", "standard_objects"]


def field(name: str, type_: str, *refs: str, rel: str | None = None, w: bool = False, **kw: Any) -> FieldDef:
    """Short constructor: ``w`` marks a field the API may create and update, ``rel`` a relationship."""
    if type_ == "string" and "length" not in kw:
        kw["length"] = 255
    return FieldDef(name, type_, reference_to=refs, relationship_name=rel, updateable=w, createable=w, **kw)


def audit_fields() -> list[FieldDef]:
    return [
        FieldDef("Id", "id", nillable=False, length=18),
        field("IsDeleted", "boolean", nillable=False),
        field("CreatedDate", "datetime", nillable=False),
        field("CreatedById", "reference", "User", rel="CreatedBy"),
        field("LastModifiedDate", "datetime", nillable=False),
        field("LastModifiedById", "reference", "User", rel="LastModifiedBy"),
        field("SystemModstamp", "datetime", nillable=False),
    ]


def _object(name: str, label: str, fields: list[FieldDef], *, writable: bool = False) -> ObjectDef:
    all_fields = audit_fields() + fields
    return ObjectDef(
        name,
        label,
        KEY_PREFIXES[name],
        createable=writable,
        updateable=writable,
        fields={f.name: f for f in all_fields},
    )


_CADENCE_STEP_TYPES = ("AutoSendAnEmail", "Branch", "CreateTask", "MakeACall", "Root", "SendAnEmail", "Wait")
_STEP_COUNTS = (
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


def standard_objects() -> dict[str, ObjectDef]:
    """The standard objects the connector reads, with the fields the reference documents."""
    s, dt, b, ref = "string", "datetime", "boolean", "reference"
    objects = [
        _object(
            "User",
            "User",
            [
                field("Username", s),
                field("FirstName", s),
                field("LastName", s),
                field("Name", s),
                field("Email", "email"),
                field("IsActive", b),
            ],
        ),
        _object(
            "Account",
            "Account",
            [
                field("Name", s, w=True, nillable=False),
                field("Website", "url", w=True),
                field("Industry", "picklist", w=True),
                field("NumberOfEmployees", "int", w=True),
                field("AnnualRevenue", "currency", w=True),
                field("OwnerId", ref, "User", rel="Owner"),
            ],
            writable=True,
        ),
        _object(
            "Contact",
            "Contact",
            [
                field("AccountId", ref, "Account", rel="Account"),
                field("FirstName", s, w=True),
                field("LastName", s, w=True, nillable=False),
                field("Name", s),
                field("Email", "email", w=True),
                field("OwnerId", ref, "User", rel="Owner"),
            ],
            writable=True,
        ),
        _object(
            "OpportunityStage",
            "Opportunity Stage",
            [
                field("ApiName", s),
                field("MasterLabel", s),
                field("IsActive", b),
                field("IsClosed", b),
                field("IsWon", b),
                field("DefaultProbability", "percent"),
                field("ForecastCategory", "picklist"),
                field("ForecastCategoryName", "picklist"),
                field("Description", s),
                field("SortOrder", "int"),
            ],
        ),
        _object(
            "Opportunity",
            "Opportunity",
            [
                field("Name", s, w=True, nillable=False),
                field("AccountId", ref, "Account", rel="Account", w=True),
                field("ContactId", ref, "Contact", rel="Contact"),
                field("OwnerId", ref, "User", rel="Owner", w=True),
                field("StageName", "picklist", w=True, nillable=False),
                field("IsClosed", b),
                field("IsWon", b),
                field("Amount", "currency", w=True),
                field("CloseDate", "date", w=True, nillable=False),
                field("Probability", "percent", w=True),
                field("ForecastCategory", "picklist"),
                field("ForecastCategoryName", "picklist", w=True),
                field("Type", "picklist", w=True),
                field("LeadSource", "picklist", w=True),
                field("Description", "textarea", w=True),
                field("LastStageChangeDate", dt),
            ],
            writable=True,
        ),
        _object(
            "OpportunityHistory",
            "Opportunity History",
            [
                field(
                    "OpportunityId",
                    ref,
                    "Opportunity",
                    rel="Opportunity",
                    child_relationship="OpportunityHistories",
                ),
                field("StageName", "picklist"),
                field("Amount", "currency"),
                field("CloseDate", "date"),
                field("Probability", "percent"),
                field("ExpectedRevenue", "currency"),
                field("ForecastCategory", "picklist"),
                field("PrevAmount", "currency"),
                field("PrevCloseDate", "date"),
            ],
        ),
        _object(
            "OpportunityCompetitor",
            "Opportunity Competitor",
            [
                field(
                    "OpportunityId",
                    ref,
                    "Opportunity",
                    rel="Opportunity",
                    w=True,
                    child_relationship="OpportunityCompetitors",
                ),
                field("CompetitorName", "combobox", w=True),
                field("Strengths", s, w=True),
                field("Weaknesses", s, w=True),
            ],
            writable=True,
        ),
        _object(
            "OpportunityContactRole",
            "Opportunity Contact Role",
            [
                field(
                    "OpportunityId",
                    ref,
                    "Opportunity",
                    rel="Opportunity",
                    w=True,
                    child_relationship="OpportunityContactRoles",
                ),
                field("ContactId", ref, "Contact", rel="Contact", w=True),
                field("Role", "picklist", w=True),
                field("IsPrimary", b, w=True),
            ],
            writable=True,
        ),
        _object(
            "EmailTemplate",
            "Email Template",
            [
                field("Name", s, w=True, length=80),
                field("DeveloperName", s, w=True, length=80),
                field("Subject", s, w=True, length=1000),
                field("Body", "textarea", w=True),
                field("HtmlValue", "textarea", w=True),
                field("FolderId", ref, "User", rel="Folder"),
                field("FolderName", s),
                field("IsActive", b, w=True),
                field("TemplateType", "picklist", w=True),
                field("UiType", "picklist"),
                field("Description", s, w=True),
                field("OwnerId", ref, "User", rel="Owner"),
                field("TotalSent", "int"),
                field("TotalDelivered", "int"),
                field("TotalOpens", "int"),
                field("TotalHardBounced", "int"),
                field("TotalSoftBounced", "int"),
                field("DeliveryRate", "percent"),
            ],
            writable=True,
        ),
        _object(
            "EmailMessage",
            "Email Message",
            [
                field("Subject", s, w=True, length=3000),
                field("TextBody", "textarea", w=True),
                field("HtmlBody", "textarea", w=True),
                field("MessageDate", dt, w=True),
                field("Incoming", b, w=True),
                field("Status", "picklist", w=True, picklist=("0", "1", "2", "3", "4", "5")),
                field("RelatedToId", ref, "Opportunity", "Account", rel="RelatedTo", w=True),
                field("ActivityId", ref, "User", rel="Activity"),
                field("EmailTemplateId", ref, "EmailTemplate", rel="EmailTemplate"),
                field("FromAddress", "email", w=True),
                field("FromName", s, w=True),
                field("ToAddress", s, w=True, length=4000),
                field("CcAddress", s, w=True, length=4000),
                field("ThreadIdentifier", s, w=True, length=765),
                field("MessageIdentifier", s, w=True, length=765),
                field("ReplyToEmailMessageId", ref, "EmailMessage", rel="ReplyToEmailMessage"),
                field("IsTracked", b),
                field("IsOpened", b),
                field("FirstOpenedDate", dt),
                field("LastOpenedDate", dt),
                field("IsBounced", b),
                field("IsClientManaged", b),
                field("HasReply", b, optional=True),
                field("FirstLinkClickedDate", dt, optional=True),
                field(
                    "ActionCadenceStepTrackerId",
                    ref,
                    "ActionCadenceStepTracker",
                    rel="ActionCadenceStepTracker",
                    optional=True,
                ),
            ],
            writable=True,
        ),
        _object(
            "ActionCadence",
            "Sales Cadence",
            [
                field("Name", s),
                field("State", "picklist"),
                field("Type", "picklist"),
                field("ActivatedDate", dt),
                field("OwnerId", ref, "User", rel="Owner"),
                field("Description", s),
                field("TotalSteps", "int"),
                field("TotalTargets", "int"),
                field("ActiveTargets", "int"),
            ],
        ),
        _object(
            "ActionCadenceStep",
            "Sales Cadence Step",
            [
                field(
                    "ActionCadenceId",
                    ref,
                    "ActionCadence",
                    rel="ActionCadence",
                    child_relationship="ActionCadenceSteps",
                ),
                field("StepName", s),
                field("ParentStepName", s),
                field("RootStepId", ref, "ActionCadenceStep", rel="RootStep"),
                field("GraphState", "picklist"),
                field("IsOrphan", b),
                field("Type", "picklist", picklist=_CADENCE_STEP_TYPES),
                field("TemplateId", ref, "EmailTemplate", rel="Template"),
                field("StepTitle", s),
                field("IsThreaded", b),
                field("WaitTimeInSeconds", "int"),
                field("HasVariant", b),
                *[field(name, "int") for name in _STEP_COUNTS],
            ],
        ),
        _object(
            "ActionCadenceTracker",
            "Sales Cadence Tracker",
            [
                field("ActionCadenceId", ref, "ActionCadence", rel="ActionCadence"),
                field("TargetId", ref, "Contact", rel="Target"),
                field("OwnerId", ref, "User", rel="Owner"),
                field("State", "picklist"),
                field("IsTrackerActive", b),
                field("CompletionReason", "picklist"),
                field("CompletionDisposition", "picklist"),
                field("CurrentStepId", ref, "ActionCadenceStepTracker", rel="CurrentStep"),
                field("LastCompletedStepId", ref, "ActionCadenceStepTracker", rel="LastCompletedStep"),
                field("RelatedToId", ref, "Opportunity", rel="RelatedTo"),
                field("RelatedToAttributionType", "picklist"),
            ],
        ),
        _object(
            "ActionCadenceStepTracker",
            "Sales Cadence Step Tracker",
            [
                field("ActionCadenceId", ref, "ActionCadence", rel="ActionCadence"),
                field("ActionCadenceName", s),
                field("ActionCadenceStepId", ref, "ActionCadenceStep", rel="ActionCadenceStep"),
                field(
                    "ActionCadenceTrackerId",
                    ref,
                    "ActionCadenceTracker",
                    rel="ActionCadenceTracker",
                    child_relationship="ActionCadenceStepTrackers",
                ),
                field("TargetId", ref, "Contact", rel="Target"),
                field("State", "picklist"),
                field("StepType", "picklist"),
                field("StepTitle", s),
                field("CompletionDate", dt),
                field("CompletionReason", "picklist"),
                field("ActionTakenDateTime", dt),
                field("IsActionTaken", b),
                field("DueDateTime", dt),
            ],
        ),
    ]
    return {o.name: o for o in objects}
