"""Custom object schemas (``/crm-object-schemas/v3/schemas``): Enterprise portals only, 403 otherwise.

Records of a custom object then go through the ordinary objects endpoints, by ``2-NNN``, name or
``p{hubId}_{name}``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, jsonify

from feedbackloop.sandbox.hubspot.portal import CustomSchema, Portal
from feedbackloop.sandbox.hubspot.properties import PropertyDef, PropertyRegistry
from feedbackloop.sandbox.hubspot.routes_meta import created_response, property_from_body
from feedbackloop.sandbox.hubspot.wire import HubSpotError, iso_from_ms, json_body

__all__ = ["schemas_blueprint"]


def schemas_blueprint(portal: Portal) -> Blueprint:
    bp = Blueprint("hubspot_schemas", __name__)

    def enterprise() -> None:
        if not portal.options.enterprise:
            raise portal.enterprise_required()

    def schema_json(schema: CustomSchema) -> dict[str, Any]:
        return {**schema.body, "properties": [p.to_json() for p in schema.registry.props.values()]}

    @bp.get("/crm-object-schemas/v3/schemas")
    def list_schemas() -> Response:
        enterprise()
        with portal.lock:
            return jsonify({"results": [schema_json(s) for s in portal.schemas.values()]})

    @bp.get("/crm-object-schemas/v3/schemas/<objectType>")
    def get_schema(objectType: str) -> Response:  # noqa: N803
        enterprise()
        with portal.lock:
            type_ = portal.resolve_type(objectType)
            if type_ not in portal.schemas:
                raise HubSpotError(404, f"Unable to find a schema for {objectType}", "OBJECT_NOT_FOUND")
            return jsonify(schema_json(portal.schemas[type_]))

    @bp.post("/crm-object-schemas/v3/schemas")
    def create_schema() -> Response:
        enterprise()
        body = json_body()
        missing = [
            k
            for k in ("name", "labels", "properties", "requiredProperties", "associatedObjects")
            if k not in body
        ]
        if missing:
            raise HubSpotError(400, f"Invalid input JSON: missing required properties {missing}")
        name = str(body["name"])
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):
            raise HubSpotError(400, f"Object name {name!r} must start with a letter (letters, digits, _).")
        with portal.lock:
            if any(s.name == name for s in portal.schemas.values()):
                raise HubSpotError(
                    409, f"An object type named '{name}' already exists.", "OBJECT_ALREADY_EXISTS"
                )
            registry = PropertyRegistry({f"{name}_information": f"{name} information"})
            for standard in ("hs_object_id", "hs_createdate", "hs_lastmodifieddate"):
                kind = ("number", "number") if standard == "hs_object_id" else ("datetime", "date")
                registry.add(
                    PropertyDef(
                        standard, standard, kind[0], kind[1], next(iter(registry.groups)), read_only=True
                    )
                )
            for raw in body["properties"]:
                raw = {"type": "string", "fieldType": "text", **raw}
                registry.add(property_from_body(raw, registry, custom=True))
            type_id = f"2-{len(portal.schemas) + 9_000_001}"
            now = iso_from_ms(portal.now_ms())
            associations = [
                {
                    "id": str(400 + i),
                    "fromObjectTypeId": type_id,
                    "toObjectTypeId": str(t),
                    "name": f"{name}_to_{t}",
                    "createdAt": now,
                    "updatedAt": now,
                }
                for i, t in enumerate(body["associatedObjects"])
            ]
            schema_body = {
                "id": type_id.split("-")[1],
                "objectTypeId": type_id,
                "name": name,
                "fullyQualifiedName": f"p{portal.options.hub_id}_{name}",
                "labels": body["labels"],
                "primaryDisplayProperty": body.get("primaryDisplayProperty"),
                "secondaryDisplayProperties": body.get("secondaryDisplayProperties", []),
                "searchableProperties": body.get("searchableProperties", []),
                "requiredProperties": body["requiredProperties"],
                "associations": associations,
                "archived": False,
                "createdAt": now,
                "updatedAt": now,
            }
            schema_body = {k: v for k, v in schema_body.items() if v is not None}
            schema = CustomSchema(type_id, name, schema_body, registry)
            portal.schemas[type_id] = schema
            return created_response(schema_json(schema))

    return bp
