"""Install: the custom object ``Template_Score__c`` and the ``FL_*`` Opportunity fields write-back needs.

Uses the Tooling API (``tooling/sobjects/CustomObject|CustomField``, reference §6.2): it is plain REST
through our session (timeouts, CA bundle, retries), whereas simple-salesforce's ``mdapi`` talks through
zeep's own session (§6.3), and the sandbox emulates the Tooling API. Idempotent: describe tells what
exists, only the missing parts are created, and ``DUPLICATE_DEVELOPER_NAME`` counts as existing.
Fields created by API have no field-level security (§6.2), so a permission set grants them to the
integration user where the org allows it.
"""

from __future__ import annotations

from typing import Any

from feedbackloop.connectors.base import InstallReport
from feedbackloop.connectors.salesforce.client import SalesforceClient
from feedbackloop.errors import RemoteError

__all__ = ["DEAL_FIELDS", "PERMISSION_SET", "TEMPLATE_FIELDS", "TEMPLATE_OBJECT", "install"]

TEMPLATE_OBJECT = "Template_Score__c"
PERMISSION_SET = "Feedbackloop_Integration"

#: Template_Score__c fields: (API name, Tooling metadata).
TEMPLATE_FIELDS: list[tuple[str, dict[str, Any]]] = [
    (
        "Template_Id__c",
        {"label": "Template Id", "type": "Text", "length": 18, "externalId": True, "unique": True},
    ),
    ("Template_Name__c", {"label": "Template Name", "type": "Text", "length": 80}),
    ("Score__c", {"label": "Score", "type": "Number", "precision": 6, "scale": 2}),
    ("Score_SE__c", {"label": "Score Std Error", "type": "Number", "precision": 6, "scale": 3}),
    ("Win_Rate__c", {"label": "Win Rate", "type": "Percent", "precision": 5, "scale": 2}),
    ("Win_Rate_Low__c", {"label": "Win Rate 95% Low", "type": "Percent", "precision": 5, "scale": 2}),
    ("Win_Rate_High__c", {"label": "Win Rate 95% High", "type": "Percent", "precision": 5, "scale": 2}),
    ("Status__c", {"label": "Status", "type": "Text", "length": 20}),
    ("Deprecated__c", {"label": "Deprecated", "type": "Checkbox", "defaultValue": "false"}),
    ("Sample_Size__c", {"label": "Sample Size", "type": "Number", "precision": 9, "scale": 0}),
    ("Scored_At__c", {"label": "Scored At", "type": "DateTime"}),
]

#: Opportunity fields for the deal-level values (the same as the HubSpot deal properties).
DEAL_FIELDS: list[tuple[str, dict[str, Any]]] = [
    (
        "FL_Template_Scores__c",
        {"label": "FL Template Scores", "type": "LongTextArea", "length": 32768, "visibleLines": 3},
    ),
    (
        "FL_Deprecated_Templates_Used__c",
        {"label": "FL Deprecated Templates Used", "type": "LongTextArea", "length": 32768, "visibleLines": 3},
    ),
    (
        "FL_Recommended_Next_Template__c",
        {"label": "FL Recommended Next Template", "type": "Text", "length": 255},
    ),
    (
        "FL_Recommended_Score__c",
        {"label": "FL Recommended Score", "type": "Number", "precision": 6, "scale": 2},
    ),
    ("FL_Last_Scored_At__c", {"label": "FL Last Scored At", "type": "DateTime"}),
]

_OBJECT_METADATA = {
    "label": "Template Score",
    "pluralLabel": "Template Scores",
    "nameField": {"type": "Text", "label": "Template Score Name"},
    "deploymentStatus": "Deployed",
    "sharingModel": "ReadWrite",
    "description": "Scores written by feedbackloop: which email templates win deals.",
}


def _field_names(client: SalesforceClient, sobject: str) -> set[str] | None:
    """The object's field names, or None when the object does not exist."""
    try:
        return {f["name"] for f in client.describe(sobject).get("fields", [])}
    except RemoteError as exc:
        if exc.status == 404:
            return None
        raise


def _create(client: SalesforceClient, kind: str, full_name: str, metadata: dict[str, Any]) -> bool:
    """Create one component; False when it already existed."""
    try:
        client.tooling(
            f"sobjects/{kind}",
            f"creating {full_name}",
            method="POST",
            data={"FullName": full_name, "Metadata": metadata},
        )
    except RemoteError as exc:
        if "DUPLICATE_DEVELOPER_NAME" in str(exc):
            return False
        raise
    return True


def install(client: SalesforceClient, user_id: str | None) -> InstallReport:
    """Create what is missing; report created, existing and skipped (with the reason) components."""
    created: list[str] = []
    existing: list[str] = []
    skipped: dict[str, str] = {}
    have = _field_names(client, TEMPLATE_OBJECT)
    if have is None:
        (created if _create(client, "CustomObject", TEMPLATE_OBJECT, _OBJECT_METADATA) else existing).append(
            TEMPLATE_OBJECT
        )
        have = set()
    else:
        existing.append(TEMPLATE_OBJECT)
    for sobject, fields, known in (
        (TEMPLATE_OBJECT, TEMPLATE_FIELDS, have),
        ("Opportunity", DEAL_FIELDS, _field_names(client, "Opportunity") or set()),
    ):
        for name, metadata in fields:
            full = f"{sobject}.{name}"
            if name in known:
                existing.append(full)
            elif _create(client, "CustomField", full, metadata):
                created.append(full)
            else:
                existing.append(full)
    reason = _grant(client, user_id)
    if reason is None:
        created.append(f"PermissionSet.{PERMISSION_SET}")
    else:
        skipped[f"PermissionSet.{PERMISSION_SET}"] = reason
    return InstallReport(created=created, existing=existing, skipped=skipped)


def _grant(client: SalesforceClient, user_id: str | None) -> str | None:
    """Field access for the integration user through a permission set; None when done, else why not."""
    fields = [f"{TEMPLATE_OBJECT}.{n}" for n, _ in TEMPLATE_FIELDS] + [
        f"Opportunity.{n}" for n, _ in DEAL_FIELDS
    ]
    try:
        found = client.query(
            f"SELECT Id FROM PermissionSet WHERE Name = '{PERMISSION_SET}'", "the permission set query"
        )
        if found:
            permission_set = str(found[0]["Id"])
        else:
            result = client.restful(
                "sobjects/PermissionSet",
                "creating the permission set",
                method="POST",
                json={"Name": PERMISSION_SET, "Label": "Feedbackloop Integration"},
            )
            permission_set = str(result["id"])
        client.restful(
            "composite/sobjects",
            "granting field access",
            method="POST",
            json={
                "allOrNone": False,
                "records": [
                    {
                        "attributes": {"type": "ObjectPermissions"},
                        "ParentId": permission_set,
                        "SobjectType": TEMPLATE_OBJECT,
                        "PermissionsRead": True,
                        "PermissionsCreate": True,
                        "PermissionsEdit": True,
                    }
                ]
                + [
                    {
                        "attributes": {"type": "FieldPermissions"},
                        "ParentId": permission_set,
                        "SobjectType": f.split(".")[0],
                        "Field": f,
                        "PermissionsRead": True,
                        "PermissionsEdit": True,
                    }
                    for f in fields
                ],
            },
        )
        if user_id:
            client.restful(
                "composite/sobjects",
                "assigning the permission set",
                method="POST",
                json={
                    "allOrNone": False,
                    "records": [
                        {
                            "attributes": {"type": "PermissionSetAssignment"},
                            "PermissionSetId": permission_set,
                            "AssigneeId": user_id,
                        }
                    ],
                },
            )
    except RemoteError as exc:
        return (
            f"the org refused the permission set ({exc}); grant field access to the integration user "
            "by hand (Setup → Permission Sets)"
        )
    return None
