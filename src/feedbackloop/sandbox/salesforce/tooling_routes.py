"""Tooling API routes: ``tooling/sobjects/CustomObject|CustomField`` (create) and ``tooling/query``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from flask import Flask, Response, request

from feedbackloop.sandbox.salesforce.org import OrgData
from feedbackloop.sandbox.salesforce.rest import API, SalesforceError, api_version, json_response, run_query
from feedbackloop.sandbox.salesforce.schema import Schema
from feedbackloop.sandbox.salesforce.tooling import (
    ToolingError,
    create_custom_field,
    create_custom_object,
    tooling_schema,
)

__all__ = ["register_tooling"]


class _ToolingTables:
    """The Tooling objects as tables for the SOQL evaluator."""

    def __init__(self, org: OrgData, schema: Schema) -> None:
        self.org, self.schema = org, schema

    @property
    def now(self) -> datetime:
        return self.org.now

    def rows(self, object_name: str) -> Sequence[dict[str, Any]]:
        return list(self.org.tooling.get(object_name, []))

    def by_id(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        return next((r for r in self.rows(object_name) if r["Id"][:15] == record_id[:15]), None)


def register_tooling(app: Flask, org: OrgData) -> None:
    tables = _ToolingTables(org, tooling_schema())
    creators = {"customobject": create_custom_object, "customfield": create_custom_field}

    @app.post(f"{API}/tooling/sobjects/<sobject>")
    def tooling_create(sobject: str) -> Response:
        create = creators.get(sobject.lower())
        if create is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise SalesforceError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
        try:
            record_id = create(org, body)
        except ToolingError as exc:
            raise SalesforceError(400, exc.code, exc.message) from None
        return json_response(
            {"id": record_id, "success": True, "errors": [], "warnings": [], "infos": []}, 201
        )

    @app.get(f"{API}/tooling/query")
    def tooling_query() -> Response:
        soql = request.args.get("q")
        if not soql:
            raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
        result = run_query(tables, soql, api_version(), include_deleted=False)
        records = result.render(result.records)
        return json_response(
            {
                "size": len(records),
                "totalSize": len(records),
                "done": True,
                "queryLocator": None,
                "entityTypeName": result.object,
                "records": records,
            }
        )
