"""Write-back: template scores upserted into ``Template_Score__c`` by ``Template_Id__c``, deal values
into the ``FL_*`` Opportunity fields.

Up to 2,000 records per object go through sObject Collections (≤ 200 per call, HTTP 200 even when
records fail, so every SaveResult is inspected, reference §5.1-5.2); above that, Bulk API 2.0 (§5.4).
Failed records are retried (transient or not: a lock or a race often clears) and those still failing
are reported by our id, so that the runner marks only the rest as written.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from feedbackloop.connectors.base import SkippedRecord, WriteBackPlan, WriteBackReport
from feedbackloop.connectors.salesforce.client import SalesforceClient
from feedbackloop.connectors.salesforce.install import TEMPLATE_OBJECT
from feedbackloop.connectors.salesforce.soql import soql_datetime
from feedbackloop.errors import ConnectorError, RemoteError

__all__ = ["BULK_THRESHOLD", "COLLECTION_LIMIT", "deal_record", "template_record", "write_back"]

COLLECTION_LIMIT = 200
BULK_THRESHOLD = 2000
RETRY_ROUNDS = 2


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, 2)


def template_record(t: Any, scored_at: str) -> dict[str, Any]:
    """A :class:`TemplateScoreRecord` as ``Template_Score__c`` fields."""
    return {
        "Template_Id__c": t.template_id,
        "Name": (t.name or t.template_id)[:80],
        "Template_Name__c": (t.name or "")[:80] or None,
        "Score__c": None if t.score is None else round(t.score, 2),
        "Score_SE__c": None if t.score_se is None else round(t.score_se, 3),
        "Win_Rate__c": _percent(t.win_rate),
        "Win_Rate_Low__c": _percent(t.ci_low),
        "Win_Rate_High__c": _percent(t.ci_high),
        "Status__c": str(t.status)[:20],
        "Deprecated__c": str(t.status) == "deprecated",
        "Sample_Size__c": int(t.deals),
        "Scored_At__c": scored_at,
    }


def deal_record(d: Any, scored_at: str) -> dict[str, Any]:
    """A :class:`DealWriteBack` as ``FL_*`` Opportunity fields."""
    return {
        "Id": d.deal_id,
        "FL_Template_Scores__c": d.template_scores,
        "FL_Deprecated_Templates_Used__c": d.deprecated_templates_used,
        "FL_Recommended_Next_Template__c": d.recommended_next_template,
        "FL_Recommended_Score__c": None if d.recommended_score is None else round(d.recommended_score, 2),
        "FL_Last_Scored_At__c": scored_at,
    }


def _reason(result: dict[str, Any]) -> str:
    errors = result.get("errors") or []
    if not errors:
        return "failed without an error"
    first = errors[0]
    return f"{first.get('statusCode', 'ERROR')}: {first.get('message', '')}"[:300]


class _Writer:
    """Sends one object's records and keeps the per-record outcome by our id."""

    def __init__(self, client: SalesforceClient, sobject: str, key: str, external_id: str | None) -> None:
        self.client, self.sobject, self.key, self.external_id = client, sobject, key, external_id

    def collections(self, records: list[dict[str, Any]]) -> dict[str, str]:
        """Failures (our id → reason) after sending ``records`` in calls of ≤ 200."""
        failed: dict[str, str] = {}
        for start in range(0, len(records), COLLECTION_LIMIT):
            chunk = records[start : start + COLLECTION_LIMIT]
            body = []
            for r in chunk:
                values = {k: v for k, v in r.items() if k != "Id"}
                record: dict[str, Any] = {"attributes": {"type": self.sobject}, **values}
                if self.external_id is None:
                    record["id"] = r["Id"]
                body.append(record)
            path = (
                f"composite/sobjects/{self.sobject}/{self.external_id}"
                if self.external_id
                else "composite/sobjects"
            )
            try:
                results = self.client.restful(
                    path,
                    f"writing {self.sobject}",
                    method="PATCH",
                    json={"allOrNone": False, "records": body},
                )
            except RemoteError as exc:
                if exc.status == 404:  # the custom object does not exist yet
                    raise ConnectorError(f"{exc}; run `feedbackloop install` before write-back") from None
                raise
            for r, result in zip(chunk, list(results or []), strict=False):
                if not result.get("success"):
                    failed[str(r[self.key])] = _reason(result)
            for r in chunk[len(results or []) :]:
                failed[str(r[self.key])] = "no result returned"
        return failed

    def bulk(self, records: list[dict[str, Any]]) -> dict[str, str]:
        """Failures after one Bulk API 2.0 ingest job (upsert by external id, or update by Id)."""
        rows = [{k: ("#N/A" if v is None else _cell(v)) for k, v in r.items()} for r in records]

        def run(sf: Any) -> list[dict[str, Any]]:
            handler = getattr(sf.bulk2, self.sobject)
            if self.external_id:
                result: list[dict[str, Any]] = handler.upsert(
                    records=rows, external_id_field=self.external_id, wait=0.2
                )
            else:
                result = handler.update(records=rows, wait=0.2)
            for job in result:
                if int(job.get("numberRecordsFailed", 0)):
                    job["failed_csv"] = handler.get_failed_records(job["job_id"])
            return result

        failed: dict[str, str] = {}
        for job in self.client.call(run, f"the Bulk API 2.0 job for {self.sobject}"):
            text = job.get("failed_csv")
            if text:
                for row in csv.DictReader(io.StringIO(text)):
                    failed[str(row.get(self.key))] = str(row.get("sf__Error") or "failed")[:300]
        return failed


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _send(writer: _Writer, records: list[dict[str, Any]], sleep: Callable[[float], None]) -> dict[str, str]:
    """Send, then retry the failed records up to :data:`RETRY_ROUNDS` times (through Collections)."""
    failed = writer.bulk(records) if len(records) > BULK_THRESHOLD else writer.collections(records)
    for attempt in range(RETRY_ROUNDS):
        if not failed:
            break
        sleep(0.5 * (attempt + 1))
        again = [r for r in records if str(r[writer.key]) in failed]
        failed = writer.collections(again)
    return failed


def write_back(
    client: SalesforceClient, plan: WriteBackPlan, *, sleep: Callable[[float], None] | None = None
) -> WriteBackReport:
    """Write every record of ``plan``; report the ones that still fail after the retries."""
    import time

    pause = sleep or time.sleep
    calls_before = client.api_calls
    scored_at = soql_datetime(plan.scored_at)
    failures: list[SkippedRecord] = []
    templates = [template_record(t, scored_at) for t in plan.templates]
    deals = [deal_record(d, scored_at) for d in plan.deals]
    if templates:
        failed = _send(_Writer(client, TEMPLATE_OBJECT, "Template_Id__c", "Template_Id__c"), templates, pause)
        failures += [SkippedRecord("template", i, reason) for i, reason in failed.items()]
    if deals:
        failed = _send(_Writer(client, "Opportunity", "Id", None), deals, pause)
        failures += [SkippedRecord("deal", i, reason) for i, reason in failed.items()]
    total = len(templates) + len(deals)
    return WriteBackReport(
        updated=total - len(failures),
        failed=len(failures),
        api_calls=client.api_calls - calls_before,
        failures=failures,
    )
