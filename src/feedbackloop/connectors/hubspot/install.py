"""``install``: the deal properties write-back needs, and a template-score custom object where allowed.

Idempotent: GET first, create what is missing, treat 409 (already exists) as success. Custom objects
need an Enterprise portal (reference §6): a 403 on the schemas API means "not on this tier" and the
object is reported in ``skipped`` with the reason; deal properties work everywhere.
"""

from __future__ import annotations

from typing import Any

from feedbackloop.connectors.base import InstallReport
from feedbackloop.connectors.hubspot.client import HubSpotClient
from feedbackloop.errors import PermissionDenied, RemoteError

__all__ = [
    "DEAL_WRITE_PROPERTIES",
    "GROUP",
    "TEMPLATE_ID_PROPERTY",
    "TEMPLATE_OBJECT",
    "TEMPLATE_OBJECT_PROPERTIES",
    "find_template_object",
    "install",
]

GROUP = "feedbackloop"
#: name → (label, type, fieldType)
DEAL_WRITE_PROPERTIES: dict[str, tuple[str, str, str]] = {
    "fl_template_scores": ("Template scores", "string", "textarea"),
    "fl_deprecated_templates_used": ("Deprecated templates used", "string", "textarea"),
    "fl_recommended_next_template": ("Recommended next template", "string", "text"),
    "fl_recommended_score": ("Recommended template score", "number", "number"),
    "fl_last_scored_at": ("Last scored at", "datetime", "date"),
}
TEMPLATE_OBJECT = "fl_template_score"
TEMPLATE_ID_PROPERTY = "fl_template_id"
TEMPLATE_OBJECT_PROPERTIES: dict[str, tuple[str, str, str]] = {
    TEMPLATE_ID_PROPERTY: ("Template id", "string", "text"),
    "fl_name": ("Template name", "string", "text"),
    "fl_score": ("Score (adjusted effect)", "number", "number"),
    "fl_score_se": ("Score standard error", "number", "number"),
    "fl_win_rate": ("Win rate", "number", "number"),
    "fl_ci_low": ("Win rate 95% low", "number", "number"),
    "fl_ci_high": ("Win rate 95% high", "number", "number"),
    "fl_status": ("Status", "string", "text"),
    "fl_deals": ("Deals", "number", "number"),
}


def _exists(exc: RemoteError) -> bool:
    return exc.status == 409


def find_template_object(client: HubSpotClient) -> str | None:
    """The objectTypeId of our template-score object, None when absent; PermissionDenied off-tier."""
    api = client.api("crm.schemas.core_api")
    response = client.call("custom object schemas", lambda t: api.get_all(_request_timeout=t))
    for schema in response.results or []:
        if schema.name == TEMPLATE_OBJECT:
            return str(schema.object_type_id)
    return None


def _ensure_group(client: HubSpotClient, report: InstallReport) -> None:
    api = client.api("crm.properties.groups_api")
    groups = client.call(
        "deal property groups", lambda t: api.get_all(object_type="deals", _request_timeout=t)
    )
    if any(g.name == GROUP for g in groups.results or []):
        report.existing.append(f"deals.group:{GROUP}")
        return
    body = {"name": GROUP, "label": "feedbackloop", "displayOrder": -1}
    try:
        client.call(
            "create property group",
            lambda t: api.create(object_type="deals", property_group_create=body, _request_timeout=t),
        )
        report.created.append(f"deals.group:{GROUP}")
    except RemoteError as exc:
        if not _exists(exc):
            raise
        report.existing.append(f"deals.group:{GROUP}")


def _ensure_properties(client: HubSpotClient, report: InstallReport) -> None:
    api = client.api("crm.properties.core_api")
    existing = client.call("deal properties", lambda t: api.get_all(object_type="deals", _request_timeout=t))
    names = {p.name for p in existing.results or []}
    for name, (label, type_, field_type) in DEAL_WRITE_PROPERTIES.items():
        if name in names:
            report.existing.append(f"deals.{name}")
            continue
        body = {
            "name": name,
            "label": label,
            "type": type_,
            "fieldType": field_type,
            "groupName": GROUP,
            "description": "Written by feedbackloop (template scoring).",
        }
        try:

            def create(t: tuple[float, float], body: dict[str, Any] = body) -> Any:
                return api.create(object_type="deals", property_create=body, _request_timeout=t)

            client.call(f"create property {name}", create)
            report.created.append(f"deals.{name}")
        except RemoteError as exc:
            if not _exists(exc):
                raise
            report.existing.append(f"deals.{name}")


def _schema_egg() -> dict[str, Any]:
    return {
        "name": TEMPLATE_OBJECT,
        "labels": {"singular": "Template score", "plural": "Template scores"},
        "primaryDisplayProperty": "fl_name",
        "secondaryDisplayProperties": ["fl_score"],
        "searchableProperties": ["fl_name", TEMPLATE_ID_PROPERTY],
        "requiredProperties": [TEMPLATE_ID_PROPERTY],
        "properties": [
            {
                "name": name,
                "label": label,
                "type": type_,
                "fieldType": field_type,
                **({"hasUniqueValue": True} if name == TEMPLATE_ID_PROPERTY else {}),
            }
            for name, (label, type_, field_type) in TEMPLATE_OBJECT_PROPERTIES.items()
        ],
        "associatedObjects": ["0-3"],
    }


def _ensure_custom_object(client: HubSpotClient, report: InstallReport) -> str | None:
    key = f"custom_object:{TEMPLATE_OBJECT}"
    try:
        found = find_template_object(client)
        if found:
            report.existing.append(key)
            return found
        api = client.api("crm.schemas.core_api")
        created = client.call(
            "create custom object", lambda t: api.create(object_schema_egg=_schema_egg(), _request_timeout=t)
        )
        report.created.append(key)
        return str(created.object_type_id)
    except PermissionDenied as exc:
        report.skipped[key] = (
            "this portal cannot have custom objects (Enterprise tier or the crm.schemas.custom.write "
            f"scope is required); template scores are written to deal properties only [{exc}]"
        )
    except RemoteError as exc:
        if not _exists(exc):
            raise
        report.existing.append(key)
        return find_template_object(client)
    return None


def install(client: HubSpotClient) -> tuple[InstallReport, str | None]:
    """Create what write-back needs; returns the report and the template object's type id (if any)."""
    report = InstallReport()
    _ensure_group(client, report)
    _ensure_properties(client, report)
    object_type = _ensure_custom_object(client, report)
    return report, object_type
