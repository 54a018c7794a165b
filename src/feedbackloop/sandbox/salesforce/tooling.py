"""Installing custom objects and fields through the Tooling API (``tooling/sobjects/CustomObject`` and
``CustomField``), and ``tooling/query`` over them.

The reference (§6) offers the Metadata API (SOAP, via zeep, which ignores the caller's requests session
and so its CA bundle) and the Tooling API (plain REST through simple-salesforce's session); the sandbox
emulates the Tooling API because it is the one that works unchanged with ``session.verify = ca_file``.
Field-level security for new fields (FieldPermissions) is not emulated: new fields are readable at once.
"""

from __future__ import annotations

from typing import Any

from feedbackloop.sandbox.salesforce.ids import KEY_PREFIXES
from feedbackloop.sandbox.salesforce.org import OrgData
from feedbackloop.sandbox.salesforce.schema import FieldDef, ObjectDef, Schema
from feedbackloop.sandbox.salesforce.standard_objects import audit_fields, field

__all__ = [
    "ToolingError",
    "create_custom_field",
    "create_custom_object",
    "install_feedbackloop_objects",
    "tooling_schema",
]

_TYPES = {
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Html": "textarea",
    "Number": "double",
    "Percent": "percent",
    "Currency": "currency",
    "Checkbox": "boolean",
    "Date": "date",
    "DateTime": "datetime",
    "Picklist": "picklist",
    "Email": "email",
    "Url": "url",
    "Phone": "phone",
    "Lookup": "reference",
}


class ToolingError(Exception):
    """A refused Tooling call: HTTP 400 with ``[{"errorCode": code, "message": ...}]``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def tooling_schema() -> Schema:
    """The two Tooling objects the sandbox lets clients query."""
    objects = {
        "CustomObject": ObjectDef(
            "CustomObject",
            "Custom Object",
            KEY_PREFIXES["CustomObject"],
            fields={
                f.name: f
                for f in [
                    *audit_fields(),
                    field("DeveloperName", "string"),
                    field("NamespacePrefix", "string"),
                    field("ExternalName", "string"),
                ]
            },
        ),
        "CustomField": ObjectDef(
            "CustomField",
            "Custom Field",
            KEY_PREFIXES["CustomField"],
            fields={
                f.name: f
                for f in [
                    *audit_fields(),
                    field("DeveloperName", "string"),
                    field("NamespacePrefix", "string"),
                    field("TableEnumOrId", "string"),
                    field("Description", "string"),
                ]
            },
        ),
    }
    return Schema(objects=objects)


def _tooling_record(org: OrgData, kind: str, values: dict[str, Any]) -> str:
    record_id = org.ids.new(KEY_PREFIXES[kind])
    stamp = org.now
    org.tooling.setdefault(kind, []).append(
        {
            "Id": record_id,
            "IsDeleted": False,
            "CreatedDate": stamp,
            "LastModifiedDate": stamp,
            "SystemModstamp": stamp,
            "CreatedById": org.user_id,
            "LastModifiedById": org.user_id,
            "NamespacePrefix": None,
            **values,
        }
    )
    return record_id


def create_custom_object(org: OrgData, body: dict[str, Any]) -> str:
    """``POST tooling/sobjects/CustomObject``: a new ``__c`` object with Name, OwnerId and audit fields."""
    full_name = str(body.get("FullName") or "")
    meta = body.get("Metadata") or {}
    if not full_name.endswith("__c") or not full_name[:-3].replace("_", "").isalnum():
        raise ToolingError("FIELD_INTEGRITY_EXCEPTION", f"Invalid custom object name: {full_name!r}")
    if not meta.get("label") or not meta.get("pluralLabel"):
        raise ToolingError("REQUIRED_FIELD_MISSING", "Required fields are missing: [label, pluralLabel]")
    with org.lock:
        if org.schema.get(full_name) is not None:
            raise ToolingError("DUPLICATE_DEVELOPER_NAME", f"There is already an object named {full_name}.")
        object_id = _tooling_record(
            org, "CustomObject", {"DeveloperName": full_name[:-3], "ExternalName": None}
        )
        prefix = "a0" + "123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[len(org.tooling["CustomObject"]) % 35]
        name_field = meta.get("nameField") or {}
        fields = [
            *audit_fields(),
            field("Name", "string", w=True, length=80, label=name_field.get("label", "Name")),
            field("OwnerId", "reference", "User", rel="Owner", w=True),
        ]
        obj = ObjectDef(
            full_name,
            str(meta["label"]),
            prefix,
            custom=True,
            createable=True,
            updateable=True,
            fields={f.name: f for f in fields},
        )
        org.schema.add_object(obj)
        org.object_ids[full_name] = object_id
        org.changed(full_name)
    return object_id


def create_custom_field(org: OrgData, body: dict[str, Any]) -> str:
    """``POST tooling/sobjects/CustomField`` with ``FullName`` ``Object.Field__c`` and Metadata."""
    full_name = str(body.get("FullName") or "")
    meta = body.get("Metadata") or {}
    object_name, _, field_name = full_name.partition(".")
    if not field_name.endswith("__c"):
        raise ToolingError("FIELD_INTEGRITY_EXCEPTION", f"Invalid custom field name: {full_name!r}")
    kind = _TYPES.get(str(meta.get("type")))
    if kind is None or not meta.get("label"):
        raise ToolingError("FIELD_INTEGRITY_EXCEPTION", f"Unsupported or missing field type/label: {meta}")
    with org.lock:
        obj = org.schema.get(object_name)
        if obj is None:
            raise ToolingError("INVALID_TYPE", f"sObject type '{object_name}' is not supported.")
        if obj.field(field_name) is not None:
            raise ToolingError(
                "DUPLICATE_DEVELOPER_NAME", f"There is already a field named {field_name} on {obj.name}."
            )
        refs = (
            tuple(meta.get("referenceTo") or ())
            if isinstance(meta.get("referenceTo"), list)
            else ((str(meta["referenceTo"]),) if meta.get("referenceTo") else ())
        )
        default_length = {"string": 255, "textarea": 32768}.get(kind, 0)
        definition = FieldDef(
            field_name,
            kind,
            reference_to=refs,
            custom=True,
            updateable=True,
            createable=True,
            relationship_name=f"{meta['relationshipName']}__r"
            if kind == "reference" and meta.get("relationshipName")
            else None,
            nillable=not meta.get("required", False) and kind != "boolean",
            external_id=bool(meta.get("externalId")),
            unique=bool(meta.get("unique")),
            case_sensitive=bool(meta.get("caseSensitive")),
            length=int(meta.get("length") or default_length),
            precision=int(meta.get("precision") or 0),
            scale=int(meta.get("scale") or 0),
            label=str(meta["label"]),
        )
        org.schema.add_field(obj.name, definition)
        table = org.object_ids.get(obj.name, obj.name)
        field_id = _tooling_record(
            org,
            "CustomField",
            {
                "DeveloperName": field_name[:-3],
                "TableEnumOrId": table,
                "Description": meta.get("description"),
            },
        )
        org.changed(obj.name)
    return field_id


FEEDBACKLOOP_FIELDS: list[tuple[str, dict[str, Any]]] = [
    (
        "Template_Id__c",
        {"label": "Template Id", "type": "Text", "length": 18, "externalId": True, "unique": True},
    ),
    ("Template_Name__c", {"label": "Template Name", "type": "Text", "length": 80}),
    ("Score__c", {"label": "Score", "type": "Number", "precision": 6, "scale": 2}),
    ("Win_Rate__c", {"label": "Win Rate", "type": "Percent", "precision": 5, "scale": 2}),
    ("Status__c", {"label": "Status", "type": "Text", "length": 20}),
    ("Deprecated__c", {"label": "Deprecated", "type": "Checkbox"}),
    ("Sample_Size__c", {"label": "Sample Size", "type": "Number", "precision": 9, "scale": 0}),
    ("Scored_At__c", {"label": "Scored At", "type": "DateTime"}),
]


def install_feedbackloop_objects(org: OrgData) -> None:
    """Pre-install ``Template_Score__c`` (external id ``Template_Id__c``) as a finished install would."""
    create_custom_object(
        org,
        {
            "FullName": "Template_Score__c",
            "Metadata": {
                "label": "Template Score",
                "pluralLabel": "Template Scores",
                "nameField": {"type": "Text", "label": "Name"},
                "deploymentStatus": "Deployed",
                "sharingModel": "ReadWrite",
            },
        },
    )
    for name, meta in FEEDBACKLOOP_FIELDS:
        create_custom_field(org, {"FullName": f"Template_Score__c.{name}", "Metadata": meta})
