"""Metadata endpoints: properties and groups, pipelines, owners, sequences and templates."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify, request

from feedbackloop.sandbox.hubspot.portal import Portal
from feedbackloop.sandbox.hubspot.properties import VALID_FIELD_TYPES, PropertyDef, PropertyRegistry
from feedbackloop.sandbox.hubspot.wire import HubSpotError, iso_from_ms, json_body

__all__ = ["created_response", "meta_blueprint", "property_from_body"]


def created_response(payload: dict[str, Any]) -> Response:
    response = jsonify(payload)
    response.status_code = 201
    return response


def property_from_body(
    body: dict[str, Any], registry: PropertyRegistry, *, custom: bool = False
) -> PropertyDef:
    required = ("name", "label", "type", "fieldType") + (() if custom else ("groupName",))
    missing = [k for k in required if not body.get(k)]
    if missing:
        raise HubSpotError(400, f"Invalid input JSON: missing required properties {missing}")
    name, type_, field_type = str(body["name"]), str(body["type"]), str(body["fieldType"])
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise HubSpotError(400, f"Property name {name!r} must be lowercase letters, digits and underscores.")
    if field_type not in VALID_FIELD_TYPES.get(type_, set()):
        raise HubSpotError(400, f"fieldType {field_type!r} is not valid for type {type_!r}.")
    group = str(body.get("groupName") or next(iter(registry.groups)))
    if group not in registry.groups:
        raise HubSpotError(400, f"Property group {group!r} does not exist.", "VALIDATION_ERROR")
    if registry.get(name) is not None:
        raise HubSpotError(409, f"A property named '{name}' already exists.", "OBJECT_ALREADY_EXISTS")
    if type_ == "enumeration" and not body.get("options"):
        raise HubSpotError(400, "Enumeration properties need at least one option.")
    options = [
        {
            "label": str(o["label"]),
            "value": str(o["value"]),
            "hidden": bool(o.get("hidden", False)),
            "displayOrder": int(o.get("displayOrder", i)),
        }
        for i, o in enumerate(body.get("options") or [])
    ]
    return PropertyDef(
        name=name,
        label=str(body["label"]),
        type=type_,
        field_type=field_type,
        group_name=group,
        description=str(body.get("description") or ""),
        options=options,
        hubspot_defined=False,
        has_unique_value=bool(body.get("hasUniqueValue", False)),
        hidden=bool(body.get("hidden", False)),
        display_order=int(body.get("displayOrder", -1)),
    )


def meta_blueprint(portal: Portal) -> Blueprint:
    bp = Blueprint("hubspot_meta", __name__)

    def visible(type_: str) -> list[PropertyDef]:
        return list(portal.registry(type_).props.values())

    @bp.get("/crm/v3/properties/<objectType>")
    def list_properties(objectType: str) -> Response:  # noqa: N803 (HubSpot's path parameter names)
        with portal.lock:
            return jsonify({"results": [p.to_json() for p in visible(portal.resolve_type(objectType))]})

    @bp.get("/crm/v3/properties/<objectType>/<propertyName>")
    def get_property(objectType: str, propertyName: str) -> Response:  # noqa: N803
        with portal.lock:
            prop = portal.registry(portal.resolve_type(objectType)).get(propertyName)
            if prop is None:
                raise HubSpotError(404, f"Unable to find property {propertyName}", "OBJECT_NOT_FOUND")
            return jsonify(prop.to_json())

    @bp.post("/crm/v3/properties/<objectType>")
    def create_property(objectType: str) -> Response:  # noqa: N803
        body = json_body()
        with portal.lock:
            type_ = portal.resolve_type(objectType)
            prop = property_from_body(body, portal.registry(type_))
            portal.add_property(type_, prop)
            return created_response(prop.to_json())

    @bp.get("/crm/v3/properties/<objectType>/groups")
    def list_groups(objectType: str) -> Response:  # noqa: N803
        with portal.lock:
            groups = portal.registry(portal.resolve_type(objectType)).groups
            return jsonify({"results": list(groups.values())})

    @bp.get("/crm/v3/properties/<objectType>/groups/<groupName>")
    def get_group(objectType: str, groupName: str) -> Response:  # noqa: N803
        with portal.lock:
            group = portal.registry(portal.resolve_type(objectType)).groups.get(groupName)
            if group is None:
                raise HubSpotError(404, f"Unable to find property group {groupName}", "OBJECT_NOT_FOUND")
            return jsonify(group)

    @bp.post("/crm/v3/properties/<objectType>/groups")
    def create_group(objectType: str) -> Response:  # noqa: N803
        body = json_body()
        if not body.get("name") or not body.get("label"):
            raise HubSpotError(400, "Invalid input JSON: 'name' and 'label' are required.")
        with portal.lock:
            groups = portal.registry(portal.resolve_type(objectType)).groups
            name = str(body["name"])
            if name in groups:
                raise HubSpotError(
                    409, f"A property group named '{name}' already exists.", "OBJECT_ALREADY_EXISTS"
                )
            groups[name] = {
                "name": name,
                "label": str(body["label"]),
                "displayOrder": int(body.get("displayOrder", -1)),
                "archived": False,
            }
            return created_response(groups[name])

    def pipeline() -> dict[str, Any]:
        built = portal.built()
        created = iso_from_ms(built.start_ms)
        stages = [
            {
                **s,
                "archived": False,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
                "createdAt": created,
                "updatedAt": created,
            }
            for s in built.stages
        ]
        return {
            "id": "default",
            "label": "Sales Pipeline",
            "displayOrder": 0,
            "stages": stages,
            "archived": False,
            "createdAt": created,
            "updatedAt": created,
        }

    def deals_only(objectType: str) -> None:  # noqa: N803
        if portal.resolve_type(objectType) != "deals":
            raise HubSpotError(400, f"Object type {objectType} has no pipelines in this sandbox.")

    @bp.get("/crm/v3/pipelines/<objectType>")
    def list_pipelines(objectType: str) -> Response:  # noqa: N803
        with portal.lock:
            deals_only(objectType)
            return jsonify({"results": [pipeline()]})

    @bp.get("/crm/v3/pipelines/<objectType>/<pipelineId>")
    def get_pipeline(objectType: str, pipelineId: str) -> Response:  # noqa: N803
        with portal.lock:
            deals_only(objectType)
            if pipelineId != "default":
                raise HubSpotError(404, f"Unable to find pipeline {pipelineId}", "OBJECT_NOT_FOUND")
            return jsonify(pipeline())

    @bp.get("/crm/v3/pipelines/<objectType>/<pipelineId>/stages")
    def list_stages(objectType: str, pipelineId: str) -> Response:  # noqa: N803
        with portal.lock:
            deals_only(objectType)
            if pipelineId != "default":
                raise HubSpotError(404, f"Unable to find pipeline {pipelineId}", "OBJECT_NOT_FOUND")
            return jsonify({"results": pipeline()["stages"]})

    @bp.get("/crm/v3/pipelines/<objectType>/<pipelineId>/stages/<stageId>")
    def get_stage(objectType: str, pipelineId: str, stageId: str) -> Response:  # noqa: N803
        with portal.lock:
            deals_only(objectType)
            stage = next((s for s in pipeline()["stages"] if s["id"] == stageId), None)
            if pipelineId != "default" or stage is None:
                raise HubSpotError(
                    404, f"Unable to find stage {stageId} in pipeline {pipelineId}", "OBJECT_NOT_FOUND"
                )
            return jsonify(stage)

    @bp.get("/crm/v3/owners/<ownerId>")
    def get_owner(ownerId: str) -> Response:  # noqa: N803
        with portal.lock:
            created = iso_from_ms(portal.built().start_ms)
            owner = next((o for o in portal.built().owners if o["id"] == ownerId), None)
        if owner is None:
            raise HubSpotError(404, f"Owner {ownerId} not found", "OBJECT_NOT_FOUND")
        return jsonify({**owner, "createdAt": created, "updatedAt": created})

    @bp.get("/crm/v3/owners/")
    @bp.get("/crm/v3/owners")
    def list_owners() -> Response:
        with portal.lock:
            created = iso_from_ms(portal.built().start_ms)
            owners = [{**o, "createdAt": created, "updatedAt": created} for o in portal.built().owners]
            return jsonify({"results": owners})

    def user_id() -> str:
        uid = request.args.get("userId")
        if not uid:
            raise HubSpotError(400, "Query parameter 'userId' is required.")
        return uid

    @bp.get("/automation/v4/sequences")
    def list_sequences() -> Response:
        user_id()
        limit = int(request.args.get("limit", 100))
        after = int(request.args.get("after", 0) or 0)
        with portal.lock:
            rows = list(portal.built().sequences.values())
        lite = [
            {k: s[k] for k in ("id", "name", "userId", "folderId", "createdAt", "updatedAt")} for s in rows
        ]
        out: dict[str, Any] = {"total": len(lite), "results": lite[after : after + limit]}
        if after + limit < len(lite):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return jsonify(out)

    @bp.get("/automation/v4/sequences/<sequenceId>")
    def get_sequence(sequenceId: str) -> Response:  # noqa: N803
        user_id()
        with portal.lock:
            sequence = portal.built().sequences.get(sequenceId)
        if sequence is None:
            raise HubSpotError(404, f"Sequence {sequenceId} not found", "OBJECT_NOT_FOUND")
        return jsonify(sequence)

    @bp.get("/automation/email-templates/2026-09-beta")
    def list_templates() -> Response:
        with portal.lock:
            return jsonify({"results": list(portal.built().templates.values())})

    @bp.get("/automation/email-templates/2026-09-beta/<templateId>")
    def get_template(templateId: str) -> Response:  # noqa: N803
        with portal.lock:
            template = portal.built().templates.get(templateId)
        if template is None:
            raise HubSpotError(404, f"Template {templateId} not found", "OBJECT_NOT_FOUND")
        return jsonify(template)

    return bp
