"""CRM v3 object endpoints (deals, emails, contacts, companies, custom objects): list, read, search, batch."""

from __future__ import annotations

import bisect
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from feedbackloop.sandbox.hubspot.portal import MODIFIED_PROPERTY, Portal, WriteProblem
from feedbackloop.sandbox.hubspot.records import SINGULAR, Record
from feedbackloop.sandbox.hubspot.search import SEARCH_DEFAULTS, search
from feedbackloop.sandbox.hubspot.wire import HubSpotError, json_body, standard_error

__all__ = ["LIST_DEFAULTS", "objects_blueprint"]

#: Properties a read returns when none are asked for: the same set as search's defaults.
LIST_DEFAULTS = SEARCH_DEFAULTS
BATCH_LIMIT, LIST_LIMIT, HISTORY_LIMIT = 100, 100, 50


def _write_error(problem: WriteProblem, rid: str | None) -> dict[str, Any]:
    """One batch input's invalid-property error, as HubSpot reports it inside a 207."""
    context = {"propertyName": list(problem.properties)}
    if rid is not None:
        context = {"ids": [rid], **context}
    return standard_error(problem.message, problem.category, context, problem.code)


def _names(values: list[str]) -> list[str]:
    return [n for v in values for n in str(v).split(",") if n]


def _with_standard(type_: str, asked: list[str]) -> list[str]:
    """What a read returns: the asked properties (or the defaults) plus the id and the two timestamps,
    which HubSpot always includes."""
    standard = [MODIFIED_PROPERTY.get(type_, "hs_lastmodifieddate"), "hs_object_id"]
    created = "hs_createdate" if type_ == "emails" or type_.startswith("2-") else "createdate"
    return list(dict.fromkeys([*(asked or LIST_DEFAULTS.get(type_, [])), created, *standard]))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _json_body() -> dict[str, Any]:
    return json_body()


def _batch(
    results: list[dict[str, Any]], errors: list[dict[str, Any]], started: str, ok: int = 200
) -> Response:
    body: dict[str, Any] = {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": _now(),
    }
    if errors:
        body["numErrors"] = len(errors)
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = 207 if errors else ok
    return response


def _inputs(body: dict[str, Any]) -> list[dict[str, Any]]:
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise HubSpotError(400, "Invalid input JSON: 'inputs' is required.")
    if len(inputs) > BATCH_LIMIT:
        raise HubSpotError(400, f"Batch input is limited to {BATCH_LIMIT} inputs; got {len(inputs)}.")
    return [i if isinstance(i, dict) else {} for i in inputs]


def objects_blueprint(portal: Portal) -> Blueprint:
    bp = Blueprint("hubspot_objects", __name__)

    def with_associations(
        type_: str, record: Record, body: dict[str, Any], assoc: list[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for target in assoc:
            try:
                to_type = portal.resolve_type(target)
            except HubSpotError:
                continue
            ids = portal.built().associations.targets(type_, record.id, to_type)
            if ids:
                kind = portal.built().associations.v3_type(type_, to_type)
                out[target] = {"results": [{"id": i, "type": kind} for i in ids]}
        if out:
            body["associations"] = out
        return body

    def not_found(type_: str, ids: list[str]) -> dict[str, Any]:
        name = SINGULAR.get(type_, type_).upper()
        return standard_error(
            f"Could not get some {name} objects, they may be deleted or not exist. Check that ids are valid.",
            "OBJECT_NOT_FOUND",
            {"ids": ids},
        )

    @bp.get("/crm/v3/objects/<objectType>")
    def list_objects(objectType: str) -> Response:  # noqa: N803 (HubSpot's path parameter names)
        args = request.args
        limit = int(args.get("limit", 10))
        history = _names(args.getlist("propertiesWithHistory"))
        maximum = HISTORY_LIMIT if history else LIST_LIMIT
        if not 0 < limit <= maximum:
            raise HubSpotError(400, f"limit must be between 1 and {maximum}")
        with portal.lock:
            type_ = portal.resolve_type(objectType)
            names = _with_standard(type_, _names(args.getlist("properties")))
            ordered = portal.table(type_).by_id_order()
            after = args.get("after") or "0"
            start = (
                bisect.bisect_left(ordered, int(after), key=lambda r: int(r.id))
                if after.isdigit()
                else len(ordered)
            )
            archived = args.get("archived") == "true"
            page: list[Record] = []
            rest: list[Record] = []
            for record in ordered[start:]:
                if record.archived != archived:
                    continue
                if len(page) == limit:
                    rest.append(record)
                    break
                page.append(record)
            assoc = _names(args.getlist("associations"))
            results = [
                with_associations(type_, r, portal.render(type_, r, names, history), assoc) for r in page
            ]
        out: dict[str, Any] = {"results": results}
        if rest:
            out["paging"] = {"next": {"after": rest[0].id, "link": f"?after={rest[0].id}"}}
        return jsonify(out)

    @bp.get("/crm/v3/objects/<objectType>/<objectId>")
    def read_object(objectType: str, objectId: str) -> Response:  # noqa: N803
        args = request.args
        with portal.lock:
            type_ = portal.resolve_type(objectType)
            record = portal.find(type_, objectId, args.get("idProperty"))
            if record is None:
                raise HubSpotError(404, "resource not found", "OBJECT_NOT_FOUND")
            names = _with_standard(type_, _names(args.getlist("properties")))
            body = portal.render(type_, record, names, _names(args.getlist("propertiesWithHistory")))
            return jsonify(with_associations(type_, record, body, _names(args.getlist("associations"))))

    @bp.patch("/crm/v3/objects/<objectType>/<objectId>")
    def update_object(objectType: str, objectId: str) -> Response:  # noqa: N803
        body = _json_body()
        with portal.lock:
            type_ = portal.resolve_type(objectType)
            record = portal.find(type_, objectId, request.args.get("idProperty"))
            if record is None:
                raise HubSpotError(404, "resource not found", "OBJECT_NOT_FOUND")
            props = body.get("properties") or {}
            problem = portal.check_write(type_, props)
            if problem:
                raise HubSpotError(
                    400,
                    problem.message,
                    problem.category,
                    errors=[
                        {
                            "message": problem.message,
                            "code": problem.code,
                            "context": {"propertyName": problem.properties},
                        }
                    ],
                )
            portal.write(type_, record, props)
            return jsonify(portal.render(type_, record, list(props) or None))

    @bp.post("/crm/v3/objects/<objectType>/search")
    def search_objects(objectType: str) -> Response:  # noqa: N803
        body = _json_body()
        with portal.lock:
            return jsonify(search(portal, portal.resolve_type(objectType), body))

    @bp.post("/crm/v3/objects/<objectType>/batch/read")
    def batch_read(objectType: str) -> Response:  # noqa: N803
        started, body = _now(), _json_body()
        inputs = _inputs(body)
        with portal.lock:
            type_ = portal.resolve_type(objectType)
            names = _with_standard(type_, [str(n) for n in body.get("properties") or []])
            results, missing = [], []
            for item in inputs:
                record = portal.find(type_, str(item.get("id", "")), body.get("idProperty"))
                if record is None:
                    missing.append(str(item.get("id", "")))
                else:
                    results.append(
                        portal.render(type_, record, names, list(body.get("propertiesWithHistory") or []))
                    )
            return _batch(results, [not_found(type_, missing)] if missing else [], started)

    @bp.post("/crm/v3/objects/<objectType>/batch/update")
    def batch_update(objectType: str) -> Response:  # noqa: N803
        started, inputs = _now(), _inputs(_json_body())
        ids = [str(i.get("id", "")) for i in inputs]
        if len(set(ids)) != len(ids):
            raise HubSpotError(400, "Duplicate IDs found in batch input: every id may appear only once.")
        with portal.lock:
            type_ = portal.resolve_type(objectType)
            results, errors, missing = [], [], []
            for item in inputs:
                rid, props = str(item.get("id", "")), dict(item.get("properties") or {})
                record = portal.find(type_, rid, item.get("idProperty"))
                if record is None:
                    missing.append(rid)
                    continue
                problem = portal.check_write(type_, props)
                if problem:
                    errors.append(_write_error(problem, rid))
                    continue
                portal.write(type_, record, props)
                results.append(portal.render(type_, record, list(props)))
            if missing:
                errors.insert(0, not_found(type_, missing))
            return _batch(results, errors, started)

    @bp.post("/crm/v3/objects/<objectType>/batch/upsert")
    def batch_upsert(objectType: str) -> Response:  # noqa: N803
        started, inputs = _now(), _inputs(_json_body())
        with portal.lock:
            type_ = portal.resolve_type(objectType)
            registry = portal.registry(type_)
            results, errors = [], []
            for item in inputs:
                rid, props = str(item.get("id", "")), dict(item.get("properties") or {})
                id_prop = item.get("idProperty")
                if id_prop and id_prop != "hs_object_id":
                    prop = registry.get(str(id_prop))
                    unique = prop is not None and (
                        prop.has_unique_value or (type_, prop.name) == ("contacts", "email")
                    )
                    if not unique:
                        raise HubSpotError(
                            400, f"idProperty {id_prop} is not a unique-value property of {type_}."
                        )
                problem = portal.check_write(type_, props)
                if problem:
                    errors.append(_write_error(problem, rid))
                    continue
                record = portal.find(type_, rid, id_prop)
                created = record is None
                if record is None:
                    if not id_prop or id_prop == "hs_object_id":
                        errors.append(not_found(type_, [rid]))
                        continue
                    record = portal.create(type_, {**props, str(id_prop): rid})
                else:
                    portal.write(type_, record, props)
                results.append({**portal.render(type_, record, list(props) or None), "new": created})
            return _batch(results, errors, started)

    @bp.post("/crm/v3/objects/<objectType>/batch/create")
    def batch_create(objectType: str) -> Response:  # noqa: N803
        started, inputs = _now(), _inputs(_json_body())
        with portal.lock:
            type_ = portal.resolve_type(objectType)
            results, errors = [], []
            for item in inputs:
                props = dict(item.get("properties") or {})
                problem = portal.check_write(type_, props)
                if problem:
                    errors.append(_write_error(problem, None))
                    continue
                record = portal.create(type_, props)
                results.append(portal.render(type_, record, None))
            return _batch(results, errors, started, ok=201)

    @bp.post("/crm/v3/objects/<objectType>")
    def create_object(objectType: str) -> Response:  # noqa: N803
        body = _json_body()
        with portal.lock:
            type_ = portal.resolve_type(objectType)
            props = dict(body.get("properties") or {})
            problem = portal.check_write(type_, props)
            if problem:
                raise HubSpotError(400, problem.message, problem.category)
            response = jsonify(portal.render(type_, portal.create(type_, props), None))
        response.status_code = 201
        return response

    return bp
