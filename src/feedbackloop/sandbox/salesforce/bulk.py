"""Bulk API 2.0 ingest jobs: create, upload CSV, ``UploadComplete``, poll until ``JobComplete``, results.

Rows are validated and written when the upload completes (per row, never all-or-none, as in Bulk 2.0);
the job reports ``InProgress`` for ``bulk_processing_seconds`` before ``JobComplete`` so clients exercise
their polling loop.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Flask, Response, request

from feedbackloop.sandbox.salesforce.org import OrgData
from feedbackloop.sandbox.salesforce.rest import API, SalesforceError, api_version, json_response
from feedbackloop.sandbox.salesforce.soql_eval import json_value
from feedbackloop.sandbox.salesforce.writes import (
    RecordError,
    Save,
    apply_saves,
    prepare_insert,
    prepare_update,
    prepare_upsert,
)

__all__ = ["BulkJobs", "register_bulk"]

_DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
_OPERATIONS = ("insert", "update", "upsert")


@dataclass
class Job:
    id: str
    object: str
    operation: str
    external_id: str | None
    delimiter: str
    line_ending: str
    created: datetime
    state: str = "Open"
    uploads: list[str] = field(default_factory=list)
    ready_at: float = 0.0
    success: list[tuple[str, bool, dict[str, str]]] = field(default_factory=list)
    failures: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    def info(self, version: str) -> dict[str, Any]:
        state = self.state
        if state == "UploadComplete" and time.monotonic() >= self.ready_at:
            state = self.state = "JobComplete"
        elif state == "UploadComplete":
            state = "InProgress"
        stamp = json_value("datetime", self.created)
        processed = len(self.success) + len(self.failures)
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": None,
            "createdDate": stamp,
            "systemModstamp": stamp,
            "state": state,
            "externalIdFieldName": self.external_id,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(version),
            "jobType": "V2Ingest",
            "contentUrl": f"services/data/v{version}/jobs/ingest/{self.id}/batches",
            "lineEnding": self.line_ending,
            "columnDelimiter": next(k for k, v in _DELIMITERS.items() if v == self.delimiter),
            "numberRecordsProcessed": processed if state == "JobComplete" else 0,
            "numberRecordsFailed": len(self.failures) if state == "JobComplete" else 0,
            "retries": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }


class BulkJobs:
    """The org's ingest jobs by id."""

    def __init__(self, org: OrgData) -> None:
        self.org = org
        self.jobs: dict[str, Job] = {}
        self.lock = threading.Lock()

    def get(self, job_id: str) -> Job:
        job = self.jobs.get(job_id)
        if job is None:
            raise SalesforceError(404, "NOT_FOUND", "The requested resource does not exist")
        return job

    def process(self, job: Job) -> None:
        """Validate and write every uploaded row; remember per-row results for the result CSVs."""
        org = self.org
        for upload in job.uploads:
            reader = csv.DictReader(io.StringIO(upload), delimiter=job.delimiter)
            for name in reader.fieldnames or []:
                if name not in job.columns:
                    job.columns.append(name)
            with org.lock:  # validate every row first (one view of the data), then write the valid ones
                batch: dict[tuple[str, str], str | None] = {}
                prepared: list[tuple[Save, dict[str, str]]] = []
                for row in reader:
                    try:
                        prepared.append((self._prepare(job, row, batch), row))
                    except RecordError as exc:
                        job.failures.append((f"{exc.status_code}:{exc.message}:{'--'.join(exc.fields)}", row))
                apply_saves(org, [save for save, _ in prepared])
            job.success.extend((save.record_id or "", save.created, row) for save, row in prepared)
        job.state = "UploadComplete"
        job.ready_at = time.monotonic() + org.options.bulk_processing_seconds

    def _prepare(self, job: Job, row: dict[str, str], batch: dict[tuple[str, str], str | None]) -> Save:
        if job.operation == "insert":
            return prepare_insert(self.org, job.object, row, from_csv=True, batch=batch)
        if job.operation == "update":
            return prepare_update(self.org, job.object, row, from_csv=True, batch=batch)
        return prepare_upsert(self.org, job.object, job.external_id or "", row, from_csv=True, batch=batch)


def _csv(columns: list[str], rows: list[tuple[list[str], dict[str, str]]], extra: list[str]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(extra + columns)
    for prefix, row in rows:
        writer.writerow(prefix + [row.get(c) or "" for c in columns])
    return Response(out.getvalue(), mimetype="text/csv")


def register_bulk(app: Flask, jobs: BulkJobs) -> None:
    org = jobs.org

    @app.post(f"{API}/jobs/ingest")
    def create_job() -> Response:
        body = request.get_json(silent=True) or {}
        obj = org.schema.get(str(body.get("object", "")))
        operation = body.get("operation")
        if obj is None or not obj.updateable:
            raise SalesforceError(
                400, "INVALIDJOB", f"Entity '{body.get('object')}' is not supported by the Bulk API."
            )
        if operation not in _OPERATIONS:
            raise SalesforceError(400, "INVALIDJOB", f"Unsupported operation: {operation}")
        if operation == "upsert" and not body.get("externalIdFieldName"):
            raise SalesforceError(400, "INVALIDJOB", "External ID was blank for upsert")
        delimiter = _DELIMITERS.get(str(body.get("columnDelimiter", "COMMA")))
        if delimiter is None or body.get("contentType", "CSV") != "CSV":
            raise SalesforceError(400, "INVALIDJOB", "Unsupported columnDelimiter or contentType")
        job = Job(
            org.ids.new("750"),
            obj.name,
            str(operation),
            body.get("externalIdFieldName"),
            delimiter,
            str(body.get("lineEnding", "LF")),
            org.now,
        )
        with jobs.lock:
            jobs.jobs[job.id] = job
        return json_response(job.info(api_version()))

    @app.get(f"{API}/jobs/ingest")
    def list_jobs() -> Response:
        return json_response(
            {
                "done": True,
                "records": [j.info(api_version()) for j in jobs.jobs.values()],
                "nextRecordsUrl": None,
            }
        )

    @app.put(f"{API}/jobs/ingest/<job_id>/batches")
    def upload(job_id: str) -> Response:
        job = jobs.get(job_id)
        if job.state != "Open":
            raise SalesforceError(409, "INVALIDJOBSTATE", f"Job {job_id} is not open for uploads")
        job.uploads.append(request.get_data(as_text=True))
        return Response(status=201)

    @app.patch(f"{API}/jobs/ingest/<job_id>")
    def set_state(job_id: str) -> Response:
        job = jobs.get(job_id)
        state = (request.get_json(silent=True) or {}).get("state")
        if state == "UploadComplete" and job.state == "Open":
            jobs.process(job)
        elif state == "Aborted" and job.state in {"Open", "UploadComplete"}:
            job.state = "Aborted"
        else:
            raise SalesforceError(400, "INVALIDJOBSTATE", f"Cannot change state of job {job_id} to {state}")
        return json_response(job.info(api_version()))

    @app.get(f"{API}/jobs/ingest/<job_id>")
    def job_info(job_id: str) -> Response:
        return json_response(jobs.get(job_id).info(api_version()))

    @app.delete(f"{API}/jobs/ingest/<job_id>")
    def delete_job(job_id: str) -> Response:
        jobs.get(job_id)
        with jobs.lock:
            jobs.jobs.pop(job_id, None)
        return Response(status=204)

    @app.get(f"{API}/jobs/ingest/<job_id>/successfulResults")
    def successful(job_id: str) -> Response:
        job = jobs.get(job_id)
        rows = [([rid, str(created).lower()], row) for rid, created, row in job.success]
        return _csv(job.columns, rows, ["sf__Id", "sf__Created"])

    @app.get(f"{API}/jobs/ingest/<job_id>/failedResults")
    def failed(job_id: str) -> Response:
        job = jobs.get(job_id)
        return _csv(job.columns, [(["", error], row) for error, row in job.failures], ["sf__Id", "sf__Error"])

    @app.get(f"{API}/jobs/ingest/<job_id>/unprocessedrecords")
    def unprocessed(job_id: str) -> Response:
        return _csv(jobs.get(job_id).columns, [], [])
