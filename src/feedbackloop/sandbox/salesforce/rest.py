"""REST data API routes: query/queryAll with ``nextRecordsUrl`` paging, describe, single records and
sObject Collections (update, create, upsert by external id)."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Flask, Response, g, request

from feedbackloop.sandbox.salesforce.ids import KEY_PREFIXES, to_18
from feedbackloop.sandbox.salesforce.org import OrgData
from feedbackloop.sandbox.salesforce.schema import describe_object
from feedbackloop.sandbox.salesforce.soql import SoqlError, parse_soql
from feedbackloop.sandbox.salesforce.soql_eval import ResultSet, Tables, evaluate, json_value

__all__ = [
    "API",
    "MAX_COLLECTION",
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

    def window() -> tuple[datetime, datetime]:
        try:
            start, end = (
                datetime.fromisoformat(request.args[k].replace("Z", "+00:00")) for k in ("start", "end")
            )
        except (KeyError, ValueError):
            raise SalesforceError(
                400, "INVALID_REQUEST", "start and end must be ISO 8601 datetimes"
            ) from None
        if start.tzinfo is None or end.tzinfo is None or end <= start:
            raise SalesforceError(
                400, "INVALID_REPLICATION_DATE", "start and end must be time-zone aware and ordered"
            )
        return start, end

    @app.get(f"{API}/sobjects/<sobject>/updated")
    def updated(sobject: str) -> Response:
        """getUpdated: ids whose SystemModstamp falls in [start, end) (the 30-day window is not enforced)."""
        obj = known(sobject)
        start, end = window()
        ids = [r["Id"] for r in org.rows(obj.name) if start <= r["SystemModstamp"] < end]
        return json_response({"ids": ids, "latestDateCovered": json_value("datetime", min(end, org.now))})

    @app.get(f"{API}/sobjects/<sobject>/deleted")
    def deleted(sobject: str) -> Response:
        """getDeleted: nothing is ever deleted in the sandbox."""
        known(sobject)
        start, end = window()
        return json_response(
            {
                "deletedRecords": [],
                "earliestDateAvailable": json_value("datetime", start),
                "latestDateCovered": json_value("datetime", min(end, org.now)),
            }
        )

    @app.get(f"{API}/sobjects/<sobject>/<record_id>")
    def get_record(sobject: str, record_id: str) -> Response:
        obj = known(sobject)
        return render_record(obj, org.by_id(obj.name, record_id))

    @app.get(f"{API}/sobjects/<sobject>/<ext_field>/<value>")
    def get_by_external_id(sobject: str, ext_field: str, value: str) -> Response:
        obj = known(sobject)
        key = obj.field(ext_field)
        if key is None or not key.external_id:
            raise SalesforceError(400, "INVALID_FIELD", f"{ext_field} is not an External ID field")
        lowered = value if key.case_sensitive else value.lower()
        matches = [
            r
            for r in org.rows(obj.name)
            if isinstance(r.get(key.name), str)
            and (r[key.name] if key.case_sensitive else r[key.name].lower()) == lowered
        ]
        if len(matches) > 1:
            urls = [f"/services/data/v{api_version()}/sobjects/{obj.name}/{m['Id']}" for m in matches]
            return json_response(urls, 300)
        return render_record(obj, matches[0] if matches else None)

    def render_record(obj: Any, record: dict[str, Any] | None) -> Response:
        if record is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        wanted = request.args.get("fields")
        names = [n.strip() for n in wanted.split(",")] if wanted else list(obj.fields)
        url = f"/services/data/v{api_version()}/sobjects/{obj.name}/{record['Id']}"
        body: dict[str, Any] = {"attributes": {"type": obj.name, "url": url}}
        for name in names:
            definition = obj.field(name)
            if definition is None:
                raise SalesforceError(
                    400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {obj.name}"
                )
            body[definition.name] = json_value(definition.type, record.get(definition.name))
        return json_response(body)
