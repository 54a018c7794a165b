"""Object and field definitions of the emulated org, and the describe JSON built from them.

Field names, types and relationship names follow the Salesforce object reference (see
`reference/salesforce-api.md`). Fields flagged ``optional`` exist only in some orgs (e.g.
``EmailMessage.HasReply`` from the newest API); an org can switch them off.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from typing import Any

from feedbackloop.sandbox.salesforce.ids import KEY_PREFIXES

__all__ = ["FieldDef", "ObjectDef", "Schema", "describe_field", "describe_object", "standard_objects"]

NUMERIC_TYPES = frozenset({"double", "currency", "percent", "int"})
TEXT_TYPES = frozenset({"string", "textarea", "email", "url", "picklist", "phone", "combobox"})
ID_TYPES = frozenset({"id", "reference"})
_SOAP_TYPES = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "int": "xsd:int",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


@dataclass(frozen=True)
class FieldDef:
    """One field: its SOAP/REST type, relationship and the flags describe reports."""

    name: str
    type: str
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    child_relationship: str | None = None
    nillable: bool = True
    custom: bool = False
    external_id: bool = False
    unique: bool = False
    case_sensitive: bool = False
    updateable: bool = False
    createable: bool = False
    length: int = 0
    precision: int = 0
    scale: int = 0
    picklist: tuple[str, ...] = ()
    optional: bool = False
    label: str = ""


@dataclass
class ObjectDef:
    """One sObject type: its key prefix, whether the API may write it, and its fields by name."""

    name: str
    label: str
    key_prefix: str
    custom: bool = False
    createable: bool = False
    updateable: bool = False
    fields: dict[str, FieldDef] = field(default_factory=dict)

    def relationship(self, name: str) -> FieldDef | None:
        """The reference field whose relationship name is ``name`` (case-insensitive)."""
        lowered = name.lower()
        for candidate in self.fields.values():
            if candidate.relationship_name and candidate.relationship_name.lower() == lowered:
                return candidate
        return None

    def field(self, name: str) -> FieldDef | None:
        """The field called ``name``, case-insensitively as in SOQL."""
        found = self.fields.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((f for n, f in self.fields.items() if n.lower() == lowered), None)


def _f(name: str, type_: str, *refs: str, rel: str | None = None, w: bool = False, **kw: Any) -> FieldDef:
    """Short constructor: ``w`` marks a field the API may create and update."""
    if type_ == "string" and "length" not in kw:
        kw["length"] = 255
    return FieldDef(name, type_, reference_to=refs, relationship_name=rel, updateable=w, createable=w, **kw)


def _audit() -> list[FieldDef]:
    return [
        FieldDef("Id", "id", nillable=False, length=18),
        _f("IsDeleted", "boolean", nillable=False),
        _f("CreatedDate", "datetime", nillable=False),
        _f("CreatedById", "reference", "User", rel="CreatedBy"),
        _f("LastModifiedDate", "datetime", nillable=False),
        _f("LastModifiedById", "reference", "User", rel="LastModifiedBy"),
        _f("SystemModstamp", "datetime", nillable=False),
    ]


def _object(name: str, label: str, fields: list[FieldDef], *, writable: bool = False) -> ObjectDef:
    all_fields = _audit() + fields
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
                _f("Username", s),
                _f("FirstName", s),
                _f("LastName", s),
                _f("Name", s),
                _f("Email", "email"),
                _f("IsActive", b),
            ],
        ),
        _object(
            "Account",
            "Account",
            [
                _f("Name", s, w=True, nillable=False),
                _f("Website", "url", w=True),
                _f("Industry", "picklist", w=True),
                _f("NumberOfEmployees", "int", w=True),
                _f("AnnualRevenue", "currency", w=True),
                _f("OwnerId", ref, "User", rel="Owner"),
            ],
            writable=True,
        ),
        _object(
            "Contact",
            "Contact",
            [
                _f("AccountId", ref, "Account", rel="Account"),
                _f("FirstName", s, w=True),
                _f("LastName", s, w=True, nillable=False),
                _f("Name", s),
                _f("Email", "email", w=True),
                _f("OwnerId", ref, "User", rel="Owner"),
            ],
            writable=True,
        ),
        _object(
            "OpportunityStage",
            "Opportunity Stage",
            [
                _f("ApiName", s),
                _f("MasterLabel", s),
                _f("IsActive", b),
                _f("IsClosed", b),
                _f("IsWon", b),
                _f("DefaultProbability", "percent"),
                _f("ForecastCategory", "picklist"),
                _f("ForecastCategoryName", "picklist"),
                _f("Description", s),
                _f("SortOrder", "int"),
            ],
        ),
        _object(
            "Opportunity",
            "Opportunity",
            [
                _f("Name", s, w=True, nillable=False),
                _f("AccountId", ref, "Account", rel="Account", w=True),
                _f("ContactId", ref, "Contact", rel="Contact"),
                _f("OwnerId", ref, "User", rel="Owner", w=True),
                _f("StageName", "picklist", w=True, nillable=False),
                _f("IsClosed", b),
                _f("IsWon", b),
                _f("Amount", "currency", w=True),
                _f("CloseDate", "date", w=True, nillable=False),
                _f("Probability", "percent", w=True),
                _f("ForecastCategory", "picklist"),
                _f("ForecastCategoryName", "picklist", w=True),
                _f("Type", "picklist", w=True),
                _f("LeadSource", "picklist", w=True),
                _f("Description", "textarea", w=True),
                _f("LastStageChangeDate", dt),
            ],
            writable=True,
        ),
        _object(
            "OpportunityHistory",
            "Opportunity History",
            [
                _f(
                    "OpportunityId",
                    ref,
                    "Opportunity",
                    rel="Opportunity",
                    child_relationship="OpportunityHistories",
                ),
                _f("StageName", "picklist"),
                _f("Amount", "currency"),
                _f("CloseDate", "date"),
                _f("Probability", "percent"),
                _f("ExpectedRevenue", "currency"),
                _f("ForecastCategory", "picklist"),
                _f("PrevAmount", "currency"),
                _f("PrevCloseDate", "date"),
            ],
        ),
        _object(
            "OpportunityCompetitor",
            "Opportunity Competitor",
            [
                _f(
                    "OpportunityId",
                    ref,
                    "Opportunity",
                    rel="Opportunity",
                    w=True,
                    child_relationship="OpportunityCompetitors",
                ),
                _f("CompetitorName", "combobox", w=True),
                _f("Strengths", s, w=True),
                _f("Weaknesses", s, w=True),
            ],
            writable=True,
        ),
        _object(
            "OpportunityContactRole",
            "Opportunity Contact Role",
            [
                _f(
                    "OpportunityId",
                    ref,
                    "Opportunity",
                    rel="Opportunity",
                    w=True,
                    child_relationship="OpportunityContactRoles",
                ),
                _f("ContactId", ref, "Contact", rel="Contact", w=True),
                _f("Role", "picklist", w=True),
                _f("IsPrimary", b, w=True),
            ],
            writable=True,
        ),
        _object(
            "EmailTemplate",
            "Email Template",
            [
                _f("Name", s, w=True, length=80),
                _f("DeveloperName", s, w=True, length=80),
                _f("Subject", s, w=True, length=1000),
                _f("Body", "textarea", w=True),
                _f("HtmlValue", "textarea", w=True),
                _f("FolderId", ref, "User", rel="Folder"),
                _f("FolderName", s),
                _f("IsActive", b, w=True),
                _f("TemplateType", "picklist", w=True),
                _f("UiType", "picklist"),
                _f("Description", s, w=True),
                _f("OwnerId", ref, "User", rel="Owner"),
                _f("TotalSent", "int"),
                _f("TotalDelivered", "int"),
                _f("TotalOpens", "int"),
                _f("TotalHardBounced", "int"),
                _f("TotalSoftBounced", "int"),
                _f("DeliveryRate", "percent"),
            ],
            writable=True,
        ),
        _object(
            "EmailMessage",
            "Email Message",
            [
                _f("Subject", s, w=True, length=3000),
                _f("TextBody", "textarea", w=True),
                _f("HtmlBody", "textarea", w=True),
                _f("MessageDate", dt, w=True),
                _f("Incoming", b, w=True),
                _f("Status", "picklist", w=True, picklist=("0", "1", "2", "3", "4", "5")),
                _f("RelatedToId", ref, "Opportunity", "Account", rel="RelatedTo", w=True),
                _f("ActivityId", ref, "User", rel="Activity"),
                _f("EmailTemplateId", ref, "EmailTemplate", rel="EmailTemplate"),
                _f("FromAddress", "email", w=True),
                _f("FromName", s, w=True),
                _f("ToAddress", s, w=True, length=4000),
                _f("CcAddress", s, w=True, length=4000),
                _f("ThreadIdentifier", s, w=True, length=765),
                _f("MessageIdentifier", s, w=True, length=765),
                _f("ReplyToEmailMessageId", ref, "EmailMessage", rel="ReplyToEmailMessage"),
                _f("IsTracked", b),
                _f("IsOpened", b),
                _f("FirstOpenedDate", dt),
                _f("LastOpenedDate", dt),
                _f("IsBounced", b),
                _f("IsClientManaged", b),
                _f("HasReply", b, optional=True),
                _f("FirstLinkClickedDate", dt, optional=True),
                _f(
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
                _f("Name", s),
                _f("State", "picklist"),
                _f("Type", "picklist"),
                _f("ActivatedDate", dt),
                _f("OwnerId", ref, "User", rel="Owner"),
                _f("Description", s),
                _f("TotalSteps", "int"),
                _f("TotalTargets", "int"),
                _f("ActiveTargets", "int"),
            ],
        ),
        _object(
            "ActionCadenceStep",
            "Sales Cadence Step",
            [
                _f(
                    "ActionCadenceId",
                    ref,
                    "ActionCadence",
                    rel="ActionCadence",
                    child_relationship="ActionCadenceSteps",
                ),
                _f("StepName", s),
                _f("ParentStepName", s),
                _f("RootStepId", ref, "ActionCadenceStep", rel="RootStep"),
                _f("GraphState", "picklist"),
                _f("IsOrphan", b),
                _f("Type", "picklist", picklist=_CADENCE_STEP_TYPES),
                _f("TemplateId", ref, "EmailTemplate", rel="Template"),
                _f("StepTitle", s),
                _f("IsThreaded", b),
                _f("WaitTimeInSeconds", "int"),
                _f("HasVariant", b),
                *[_f(name, "int") for name in _STEP_COUNTS],
            ],
        ),
        _object(
            "ActionCadenceTracker",
            "Sales Cadence Tracker",
            [
                _f("ActionCadenceId", ref, "ActionCadence", rel="ActionCadence"),
                _f("TargetId", ref, "Contact", rel="Target"),
                _f("OwnerId", ref, "User", rel="Owner"),
                _f("State", "picklist"),
                _f("IsTrackerActive", b),
                _f("CompletionReason", "picklist"),
                _f("CompletionDisposition", "picklist"),
                _f("CurrentStepId", ref, "ActionCadenceStepTracker", rel="CurrentStep"),
                _f("LastCompletedStepId", ref, "ActionCadenceStepTracker", rel="LastCompletedStep"),
                _f("RelatedToId", ref, "Opportunity", rel="RelatedTo"),
                _f("RelatedToAttributionType", "picklist"),
            ],
        ),
        _object(
            "ActionCadenceStepTracker",
            "Sales Cadence Step Tracker",
            [
                _f("ActionCadenceId", ref, "ActionCadence", rel="ActionCadence"),
                _f("ActionCadenceName", s),
                _f("ActionCadenceStepId", ref, "ActionCadenceStep", rel="ActionCadenceStep"),
                _f(
                    "ActionCadenceTrackerId",
                    ref,
                    "ActionCadenceTracker",
                    rel="ActionCadenceTracker",
                    child_relationship="ActionCadenceStepTrackers",
                ),
                _f("TargetId", ref, "Contact", rel="Target"),
                _f("State", "picklist"),
                _f("StepType", "picklist"),
                _f("StepTitle", s),
                _f("CompletionDate", dt),
                _f("CompletionReason", "picklist"),
                _f("ActionTakenDateTime", dt),
                _f("IsActionTaken", b),
                _f("DueDateTime", dt),
            ],
        ),
    ]
    return {o.name: o for o in objects}


class Schema:
    """The org's objects: the standard ones, minus switched-off optional fields, plus installed ones."""

    def __init__(self, disabled_fields: frozenset[str] = frozenset()) -> None:
        self.objects: dict[str, ObjectDef] = {}
        for name, obj in standard_objects().items():
            obj.fields = {n: f for n, f in obj.fields.items() if f"{name}.{n}" not in disabled_fields}
            self.objects[name] = obj

    def get(self, name: str) -> ObjectDef | None:
        """The object called ``name`` (case-insensitive, as SOQL and the REST paths are)."""
        found = self.objects.get(name)
        if found is not None:
            return found
        lowered = name.lower()
        return next((o for n, o in self.objects.items() if n.lower() == lowered), None)

    def add_field(self, object_name: str, definition: FieldDef) -> None:
        obj = self.objects[object_name]
        obj.fields = {**obj.fields, definition.name: definition}

    def add_object(self, definition: ObjectDef) -> None:
        self.objects[definition.name] = definition

    def children(self, parent: str) -> list[tuple[str, FieldDef]]:
        """(child object, reference field) pairs whose child relationship points at ``parent``."""
        return [
            (o.name, f)
            for o in self.objects.values()
            for f in o.fields.values()
            if f.child_relationship and parent in f.reference_to
        ]

    def copy(self) -> Schema:
        return copy.deepcopy(self)


def describe_field(definition: FieldDef) -> dict[str, Any]:
    """The describe entry of one field (the keys clients read; the rest of Salesforce's 50 are omitted)."""
    is_text = definition.type in TEXT_TYPES
    return {
        "name": definition.name,
        "label": definition.label or definition.name.removesuffix("__c").replace("_", " "),
        "type": definition.type,
        "soapType": _SOAP_TYPES.get(definition.type, "xsd:string"),
        "length": definition.length if is_text or definition.type in ID_TYPES else 0,
        "precision": definition.precision,
        "scale": definition.scale,
        "digits": 0,
        "custom": definition.custom,
        "nillable": definition.nillable,
        "externalId": definition.external_id,
        "unique": definition.unique,
        "caseSensitive": definition.case_sensitive,
        "idLookup": definition.name == "Id" or definition.external_id,
        "createable": definition.createable,
        "updateable": definition.updateable,
        "filterable": definition.type != "textarea",
        "sortable": definition.type != "textarea",
        "calculated": False,
        "defaultedOnCreate": definition.type == "boolean" or definition.name in {"Id", "OwnerId"},
        "referenceTo": list(definition.reference_to),
        "relationshipName": definition.relationship_name,
        "picklistValues": [
            {"value": v, "label": v, "active": True, "defaultValue": False, "validFor": None}
            for v in definition.picklist
        ],
    }


def describe_object(obj: ObjectDef, schema: Schema, version: str, *, full: bool = True) -> dict[str, Any]:
    """The ``sobjects/{name}/describe`` body (``full=False``: the global-describe summary)."""
    base = f"/services/data/v{version}/sobjects/{obj.name}"
    summary: dict[str, Any] = {
        "name": obj.name,
        "label": obj.label,
        "labelPlural": obj.label + "s",
        "keyPrefix": obj.key_prefix,
        "custom": obj.custom,
        "createable": obj.createable,
        "updateable": obj.updateable,
        "deletable": False,
        "queryable": True,
        "retrieveable": True,
        "searchable": False,
        "urls": {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"},
    }
    if not full:
        return summary
    children = [
        {
            "childSObject": child,
            "field": f.name,
            "relationshipName": f.child_relationship,
            "cascadeDelete": True,
        }
        for child, f in schema.children(obj.name)
    ]
    return {
        **summary,
        "fields": [describe_field(f) for f in obj.fields.values()],
        "childRelationships": children,
    }


def with_flags(definition: FieldDef, **changes: Any) -> FieldDef:
    return replace(definition, **changes)
