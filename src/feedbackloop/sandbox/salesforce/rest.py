"""REST data API routes: query/queryAll with ``nextRecordsUrl`` paging, describe, single records and
sObject Collections (update, create, upsert by external id)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, g, request

from feedbackloop.sandbox.salesforce.ids import KEY_PREFIXES, to_18
from feedbackloop.sandbox.salesforce.org import OrgData
from feedbackloop.sandbox.salesforce.schema import describe_object
from feedbackloop.sandbox.salesforce.soql import SoqlError, parse_soql
from feedbackloop.sandbox.salesforce.soql_eval import ResultSet, Tables, evaluate, json_value
from feedbackloop.sandbox.salesforce.writes import (
    RecordError,
    Save,
    apply_saves,
    prepare_insert,
    prepare_update,
    prepare_upsert,
)

__all__ = [
    "API",
    "CursorStore",
    "SalesforceError",
    "api_version",
    "json_response",
    "register_rest",
    "run_query",
]

API = "/services/data/v<version>"
MAX_COLLECTION = 200


class SalesforceError(Exception):
    """An error answered as Salesforce's JSON error list with this HTTP status."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


def api_version() -> str:
    """The ``XX.X`` of the ``/services/data/vXX.X/`` path of the current request."""
    return str(g.get("api_version", "60.0"))


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


@dataclass
class _Cursor:
    result: ResultSet
    batch: int
    expires: float


class CursorStore:
    """Open query cursors (locators) for ``nextRecordsUrl``; the oldest are dropped past ``capacity``."""

    def __init__(self, capacity: int = 500, lifetime: float = 900.0) -> None:
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self.capacity, self.lifetime = capacity, lifetime

    def open(self, result: ResultSet, batch: int) -> str:
        with self._lock:
            locator = to_18(f"{KEY_PREFIXES['QueryLocator']}Sb{next(self._counter):010d}")
            self._cursors[locator] = _Cursor(result, batch, time.monotonic() + self.lifetime)
            while len(self._cursors) > self.capacity:
                self._cursors.popitem(last=False)
            return locator

    def get(self, locator: str) -> _Cursor | None:
        with self._lock:
            cursor = self._cursors.get(locator)
            return cursor if cursor is not None and cursor.expires > time.monotonic() else None


def batch_size() -> int:
    """``Sforce-Query-Options: batchSize=N`` clamped to Salesforce's 200..2000 (default 2000)."""
    header = request.headers.get("Sforce-Query-Options", "")
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "batchsize" and value.strip().isdigit():
            return max(200, min(2000, int(value)))
    return 2000


def page(
    result: ResultSet,
    cursors: CursorStore,
    *,
    locator: str | None,
    start: int,
    batch: int,
    version: str,
    endpoint: str,
) -> dict[str, Any]:
    """One page of ``result`` from ``start``; opens a cursor when more records remain."""
    total = len(result.records)
    if result.count_only:
        return {"totalSize": total, "done": True, "records": []}
    end = min(total, start + batch)
    body: dict[str, Any] = {"totalSize": total, "done": end >= total}
    if end < total:
        locator = locator or cursors.open(result, batch)
        body["nextRecordsUrl"] = f"/services/data/v{version}/{endpoint}/{locator}-{end}"
    body["records"] = result.render(result.records[start:end])
    return body


def run_query(tables: Tables, soql: str, version: str, *, include_deleted: bool) -> ResultSet:
    try:
        return evaluate(parse_soql(soql), tables, version, include_deleted=include_deleted)
    except SoqlError as exc:
        raise SalesforceError(400, exc.code, str(exc)) from None


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


def register_rest(app: Flask, org: OrgData, cursors: CursorStore) -> None:
    @app.url_value_preprocessor
    def take_version(endpoint: str | None, values: dict[str, Any] | None) -> None:
        del endpoint
        if values and "version" in values:
            g.api_version = values.pop("version")

    @app.get("/services/data")
    def versions() -> Response:
        return json_response(
            [{"label": f"v{v}", "url": f"/services/data/v{v}.0", "version": f"{v}.0"} for v in range(55, 63)]
        )

    @app.get(f"{API}/limits")
    def limits() -> Response:
        limit = org.options.daily_api_limit
        return json_response({"DailyApiRequests": {"Max": limit, "Remaining": limit - org.api_used}})

    def query(include_deleted: bool) -> Response:
        soql = request.args.get("q")
        if not soql:
            raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
        result = run_query(org, soql, api_version(), include_deleted=include_deleted)
        endpoint = "queryAll" if include_deleted else "query"
        return json_response(
            page(
                result,
                cursors,
                locator=None,
                start=0,
                batch=batch_size(),
                version=api_version(),
                endpoint=endpoint,
            )
        )

    def query_more(locator: str, endpoint: str) -> Response:
        name, _, position = locator.rpartition("-")
        cursor = cursors.get(name) if position.isdigit() else None
        if cursor is None:
            raise SalesforceError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        batch = batch_size() if "Sforce-Query-Options" in request.headers else cursor.batch
        return json_response(
            page(
                cursor.result,
                cursors,
                locator=name,
                start=int(position),
                batch=batch,
                version=api_version(),
                endpoint=endpoint,
            )
        )

    app.add_url_rule(f"{API}/query", "query", lambda: query(False))
    app.add_url_rule(f"{API}/queryAll", "query_all", lambda: query(True))
    app.add_url_rule(f"{API}/query/<locator>", "query_more", lambda locator: query_more(locator, "query"))
    app.add_url_rule(
        f"{API}/queryAll/<locator>", "query_all_more", lambda locator: query_more(locator, "queryAll")
    )

    def known(sobject: str) -> Any:
        obj = org.schema.get(sobject)
        if obj is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return obj

    @app.get(f"{API}/sobjects")
    def global_describe() -> Response:
        objects = [
            describe_object(o, org.schema, api_version(), full=False) for o in org.schema.objects.values()
        ]
        return json_response({"encoding": "UTF-8", "maxBatchSize": MAX_COLLECTION, "sobjects": objects})

    @app.get(f"{API}/sobjects/<sobject>/describe")
    def describe(sobject: str) -> Response:
        return json_response(describe_object(known(sobject), org.schema, api_version()))

    @app.get(f"{API}/sobjects/<sobject>")
    def sobject_info(sobject: str) -> Response:
        obj = known(sobject)
        return json_response(
            {"objectDescribe": describe_object(obj, org.schema, api_version(), full=False), "recentItems": []}
        )

    @app.get(f"{API}/sobjects/<sobject>/<record_id>")
    def get_record(sobject: str, record_id: str) -> Response:
        obj = known(sobject)
        record = org.by_id(obj.name, record_id)
        if record is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        wanted = request.args.get("fields")
        names = [n.strip() for n in wanted.split(",")] if wanted else list(obj.fields)
        body: dict[str, Any] = {
            "attributes": {
                "type": obj.name,
                "url": f"/services/data/v{api_version()}/sobjects/{obj.name}/{record['Id']}",
            }
        }
        for name in names:
            definition = obj.field(name)
            if definition is None:
                raise SalesforceError(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}"
                )
            body[definition.name] = json_value(definition.type, record.get(definition.name))
        return json_response(body)

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
