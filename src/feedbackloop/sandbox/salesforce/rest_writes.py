"""REST writes: single records (create, update, upsert by external id) and sObject Collections (update,
create, upsert by external id; ≤ 200 records; HTTP 200 with a SaveResult per record, ``allOrNone``)."""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request

from feedbackloop.sandbox.salesforce.org import OrgData
from feedbackloop.sandbox.salesforce.rest import API, MAX_COLLECTION, SalesforceError, json_response
from feedbackloop.sandbox.salesforce.writes import (
    RecordError,
    Save,
    apply_saves,
    prepare_insert,
    prepare_update,
    prepare_upsert,
)

__all__ = ["register_writes", "save_collection"]


def _body() -> dict[str, Any]:
    try:
        body = json.loads(request.get_data() or b"null")
    except ValueError as exc:
        raise SalesforceError(400, "JSON_PARSER_ERROR", f"Unexpected character: {exc}") from None
    if not isinstance(body, dict):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    return body


def _records(body: dict[str, Any]) -> tuple[list[Any], bool]:
    records = body.get("records")
    if not isinstance(records, list):
        raise SalesforceError(400, "JSON_PARSER_ERROR", "'records' must be a list")
    if len(records) > MAX_COLLECTION:
        raise SalesforceError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_COLLECTION} records into this call",
        )
    return records, bool(body.get("allOrNone", False))


def save_collection(
    org: OrgData, records: list[Any], all_or_none: bool, prepare: Any, upsert: bool = False
) -> list[dict[str, Any]]:
    """Validate every record, then apply the valid ones (or none with allOrNone); SaveResults in order."""
    with org.lock:
        outcomes: list[Save | RecordError] = []
        batch: dict[tuple[str, str], str | None] = {}
        for record in records:
            try:
                if not isinstance(record, dict):
                    raise RecordError("JSON_PARSER_ERROR", "each record must be a JSON object")
                outcomes.append(prepare(record, batch))
            except RecordError as exc:
                outcomes.append(exc)
        failed = any(isinstance(o, RecordError) for o in outcomes)
        if all_or_none and failed:
            rolled = RecordError(
                "ALL_OR_NONE_OPERATION_ROLLED_BACK",
                "Record rolled back because not all "
                "records were valid and the request was using AllOrNone header",
            )
            outcomes = [o if isinstance(o, RecordError) else rolled for o in outcomes]
        apply_saves(org, [o for o in outcomes if isinstance(o, Save)])
    results = []
    for outcome in outcomes:
        if isinstance(outcome, RecordError):
            results.append({"success": False, "errors": [outcome.as_json()]})
        else:
            result: dict[str, Any] = {"id": outcome.record_id, "success": True, "errors": []}
            if upsert:
                result["created"] = outcome.created
            results.append(result)
    return results


def register_writes(app: Flask, org: OrgData) -> None:
    def known(sobject: str) -> Any:
        obj = org.schema.get(sobject)
        if obj is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    def single(results: list[dict[str, Any]], status: int) -> Response:
        result = results[0]
        if not result["success"]:
            error = result["errors"][0]
            return json_response(
                [{"message": error["message"], "errorCode": error["statusCode"], "fields": error["fields"]}],
                400,
            )
        return json_response(result, status) if status != 204 else Response(status=204)

    @app.post(f"{API}/sobjects/<sobject>")
    def create_record(sobject: str) -> Response:
        obj = known(sobject)
        return single(
            save_collection(org, [_body()], False, lambda r, b: prepare_insert(org, obj.name, r, batch=b)),
            201,
        )

    @app.patch(f"{API}/sobjects/<sobject>/<record_id>")
    def update_record(sobject: str, record_id: str) -> Response:
        obj = known(sobject)
        return single(
            save_collection(
                org,
                [{**_body(), "Id": record_id}],
                False,
                lambda r, b: prepare_update(org, obj.name, r, batch=b),
            ),
            204,
        )

    @app.patch(f"{API}/sobjects/<sobject>/<ext_field>/<value>")
    def upsert_record(sobject: str, ext_field: str, value: str) -> Response:
        obj = known(sobject)
        results = save_collection(
            org,
            [{**_body(), ext_field: value}],
            False,
            lambda r, b: prepare_upsert(org, obj.name, ext_field, r, batch=b),
            upsert=True,
        )
        return single(results, 201 if results[0].get("created") else 200)

    @app.patch(f"{API}/composite/sobjects")
    def collection_update() -> Response:
        records, all_or_none = _records(_body())

        def prepare(record: dict[str, Any], batch: dict[tuple[str, str], str | None]) -> Save:
            kind = (record.get("attributes") or {}).get("type")
            if not kind:
                raise RecordError("INVALID_TYPE", "Must specify a type in the attributes of each record")
            return prepare_update(org, kind, record, batch=batch)

        return json_response(save_collection(org, records, all_or_none, prepare))

    @app.post(f"{API}/composite/sobjects")
    def collection_create() -> Response:
        records, all_or_none = _records(_body())

        def prepare(record: dict[str, Any], batch: dict[tuple[str, str], str | None]) -> Save:
            return prepare_insert(org, (record.get("attributes") or {}).get("type"), record, batch=batch)

        return json_response(save_collection(org, records, all_or_none, prepare))

    @app.patch(f"{API}/composite/sobjects/<sobject>/<ext_field>")
    def collection_upsert(sobject: str, ext_field: str) -> Response:
        obj = known(sobject)
        key = obj.field(ext_field)
        if key is None or not (key.external_id or key.name == "Id"):
            raise SalesforceError(
                400,
                "INVALID_FIELD",
                f"Field name provided, {ext_field} is not an External ID or indexed field",
            )
        records, all_or_none = _records(_body())

        def prepare(record: dict[str, Any], batch: dict[tuple[str, str], str | None]) -> Save:
            if record.get("id") or record.get("Id"):
                raise RecordError(
                    "INVALID_FIELD", "Only external ids are supported in an upsert by external id"
                )
            kind = (record.get("attributes") or {}).get("type", obj.name)
            if str(kind).lower() != obj.name.lower():
                raise RecordError("INVALID_TYPE", f"Record type {kind} does not match {obj.name}")
            return prepare_upsert(org, obj.name, ext_field, record, batch=batch)

        return json_response(save_collection(org, records, all_or_none, prepare, upsert=True))
