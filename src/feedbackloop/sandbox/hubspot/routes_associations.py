"""Associations v4: batch read (≤ 1,000 inputs, per-object paging) and the single-record list."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from feedbackloop.sandbox.hubspot.portal import Portal
from feedbackloop.sandbox.hubspot.records import SINGULAR, AssociationIndex
from feedbackloop.sandbox.hubspot.wire import HubSpotError, json_body, standard_error

__all__ = ["associations_blueprint"]

BATCH_READ_LIMIT = 1000


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode().rstrip("=")


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        return int(text[1:]) if text.startswith("o") else 0
    except ValueError:
        raise HubSpotError(400, f"Invalid paging cursor {cursor!r}") from None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def associations_blueprint(portal: Portal) -> Blueprint:
    bp = Blueprint("hubspot_associations", __name__)

    def page(from_type: str, from_id: str, to_type: str, after: str | None, size: int) -> dict[str, Any]:
        ids = portal.built().associations.targets(from_type, from_id, to_type)
        start = _offset(after)
        kinds = AssociationIndex.types(from_type, to_type)
        out: dict[str, Any] = {
            "from": {"id": from_id},
            "to": [{"toObjectId": i, "associationTypes": kinds} for i in ids[start : start + size]],
        }
        if start + size < len(ids):
            out["paging"] = {"next": {"after": _cursor(start + size)}}
        return out

    @bp.post("/crm/v4/associations/<fromObjectType>/<toObjectType>/batch/read")
    def batch_read(fromObjectType: str, toObjectType: str) -> Response:  # noqa: N803 (HubSpot's names)
        started = _now()
        inputs = json_body().get("inputs")
        if not isinstance(inputs, list):
            raise HubSpotError(400, "Invalid input JSON: 'inputs' is required.")
        if len(inputs) > BATCH_READ_LIMIT:
            raise HubSpotError(400, f"Batch read is limited to {BATCH_READ_LIMIT} inputs; got {len(inputs)}.")
        with portal.lock:
            from_type, to_type = portal.resolve_type(fromObjectType), portal.resolve_type(toObjectType)
            results, errors = [], []
            for item in inputs:
                from_id = str(item.get("id", "")) if isinstance(item, dict) else ""
                if not portal.built().associations.targets(from_type, from_id, to_type):
                    errors.append(
                        standard_error(
                            f"No {SINGULAR.get(to_type, to_type)} is associated with "
                            f"{SINGULAR.get(from_type, from_type)} {from_id}.",
                            "OBJECT_NOT_FOUND",
                            {"fromObjectId": [from_id]},
                        )
                    )
                    continue
                size = portal.options.association_page_size
                results.append(page(from_type, from_id, to_type, item.get("after"), size))
        payload: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": started,
            "completedAt": _now(),
        }
        if errors:
            payload.update(numErrors=len(errors), errors=errors)
        response = jsonify(payload)
        response.status_code = 207 if errors else 200
        return response

    @bp.get("/crm/v4/objects/<objectType>/<objectId>/associations/<toObjectType>")
    def list_for_object(objectType: str, objectId: str, toObjectType: str) -> Response:  # noqa: N803
        limit = int(request.args.get("limit", 500))
        with portal.lock:
            from_type, to_type = portal.resolve_type(objectType), portal.resolve_type(toObjectType)
            if portal.find(from_type, objectId) is None:
                raise HubSpotError(404, "resource not found", "OBJECT_NOT_FOUND")
            body = page(from_type, objectId, to_type, request.args.get("after"), limit)
        return jsonify({"results": body["to"], **({"paging": body["paging"]} if "paging" in body else {})})

    return bp
