"""Object and field definitions of the emulated org, and the describe JSON built from them.

Field names, types and relationship names follow the Salesforce object reference (see
`reference/salesforce-api.md`). Fields flagged ``optional`` exist only in some orgs (e.g.
``EmailMessage.HasReply`` from the newest API); an org can switch them off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ID_TYPES",
    "NUMERIC_TYPES",
    "TEXT_TYPES",
    "FieldDef",
    "ObjectDef",
    "Schema",
    "describe_field",
    "describe_object",
]

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


class Schema:
    """The org's objects: the standard ones, minus switched-off optional fields, plus installed ones."""

    def __init__(
        self, disabled_fields: frozenset[str] = frozenset(), objects: dict[str, ObjectDef] | None = None
    ) -> None:
        from feedbackloop.sandbox.salesforce.standard_objects import standard_objects

        self.objects: dict[str, ObjectDef] = {}
        for name, obj in (standard_objects() if objects is None else objects).items():
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
