"""The Salesforce sandbox through simple-salesforce over real HTTPS with the generated CA (verify on)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceError,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from feedbackloop.sandbox.salesforce import start_salesforce, trusting_session
from feedbackloop.sandbox.salesforce.server import SalesforceServer
from tests.test_sandbox_salesforce_fixtures import TinyWorld
from tests.test_sandbox_salesforce_fixtures import sf_id as sid

FILLER = 450  # extra emails so that EmailMessage needs several pages of 200


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SalesforceServer]:
    running = start_salesforce(TinyWorld(filler=FILLER), tmp_path_factory.mktemp("sf-tls"), preinstall=True)
    yield running
    running.stop()


def connect(server: SalesforceServer, token: str = "sandbox-token") -> Any:
    """A client as the connector builds one (typed Any: simple-salesforce's attribute API is dynamic)."""
    return Salesforce(
        instance_url=server.url, session_id=token, version="60.0", session=trusting_session(server.ca_file)
    )


def error_code(error: SalesforceError) -> str:
    content: Any = error.content
    return str(content[0]["errorCode"])


@pytest.fixture
def sf(server: SalesforceServer) -> Any:
    return connect(server)


def test_the_certificate_is_verified_against_the_generated_ca(server: SalesforceServer) -> None:
    assert server.url.startswith("https://127.0.0.1:")
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{server.url}/services/data", timeout=5)  # the system CAs do not know it
    assert requests.get(f"{server.url}/services/data", verify=server.ca_file, timeout=5).status_code == 200


def test_query_returns_parent_relationship_fields(sf: Any) -> None:
    result = sf.query(
        "SELECT Name, Account.Industry, Account.NumberOfEmployees FROM Opportunity WHERE IsWon = true"
    )
    assert result["totalSize"] == 1
    assert result["done"] is True
    (record,) = result["records"]
    assert record["Name"] == "Acme renewal"
    assert record["Account"]["Industry"] == "Banking"
    assert record["Account"]["NumberOfEmployees"] == 40
    assert record["attributes"]["type"] == "Opportunity"


def test_null_parent_relationship_is_null(sf: Any) -> None:
    records = sf.query("SELECT Id, Template.Name FROM ActionCadenceStep WHERE Type = 'Wait'")["records"]
    assert len(records) == 1
    assert records[0]["Template"] is None


@pytest.mark.parametrize(
    ("header", "first_page"),
    [("batchSize=200", 200), ("batchSize=50", 200), ("batchSize=5000", FILLER + 5), (None, FILLER + 5)],
)
def test_paging_honours_the_batch_size_header(sf: Any, header: str | None, first_page: int) -> None:
    headers = {"Sforce-Query-Options": header} if header else {}
    first = sf.query("SELECT Id FROM EmailMessage ORDER BY MessageDate", headers=headers)
    assert len(first["records"]) == first_page
    assert first["totalSize"] == FILLER + 5
    assert first["done"] is (first_page == FILLER + 5)
    if not first["done"]:
        assert first["nextRecordsUrl"].startswith("/services/data/v60.0/query/01g")
        second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True, headers=headers)
        assert len(second["records"]) == 200


def test_query_all_iter_and_query_all_follow_next_records_url(
    sf: Salesforce, server: SalesforceServer
) -> None:
    headers = {"Sforce-Query-Options": "batchSize=200"}
    ids = [r["Id"] for r in sf.query_all_iter("SELECT Id FROM EmailMessage", headers=headers)]
    assert len(ids) == len(set(ids)) == FILLER + 5
    everything = sf.query_all("SELECT Id FROM EmailMessage", include_deleted=True, headers=headers)
    assert everything["totalSize"] == FILLER + 5
    assert len(everything["records"]) == FILLER + 5
    by_endpoint = server.sandbox.stats.snapshot()["by_endpoint"]
    assert by_endpoint["GET /services/data/v{version}/queryAll/{locator}"] >= 2


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FROM Opportunity WHERE", "MALFORMED_QUERY"),
        ("SELECT Nope FROM Opportunity", "INVALID_FIELD"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        (
            "SELECT Id FROM Opportunity WHERE IsWon = true AND Amount > 1 OR IsClosed = false",
            "MALFORMED_QUERY",
        ),
        (
            "SELECT Id FROM Opportunity WHERE CloseDate > 2026-01-01T00:00:00Z",
            "INVALID_QUERY_FILTER_OPERATOR",
        ),
    ],
)
def test_bad_queries_are_400_with_salesforce_error_codes(sf: Any, soql: str, code: str) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query(soql)
    assert caught.value.status == 400
    assert error_code(caught.value) == code


def test_describe_lists_fields_with_their_flags(sf: Any) -> None:
    fields = {f["name"]: f for f in sf.Opportunity.describe()["fields"]}
    assert fields["StageName"]["type"] == "picklist"
    assert not fields["StageName"]["custom"]
    assert fields["Loss_Reason__c"]["custom"]
    assert fields["Loss_Reason__c"]["updateable"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert not fields["IsWon"]["updateable"]
    assert {f["name"] for f in sf.EmailMessage.describe()["fields"]} >= {
        "HasReply",
        "EmailTemplateId",
        "Incoming",
    }
    score = {f["name"]: f for f in sf.Template_Score__c.describe()["fields"]}
    assert score["Template_Id__c"]["externalId"]
    assert score["Template_Id__c"]["unique"]
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Opportunity", "EmailMessage", "ActionCadenceStepTracker", "Template_Score__c"} <= names
    with pytest.raises(SalesforceResourceNotFound):
        sf.Nope.describe()


def test_collection_update_reports_per_record_failures(sf: Any) -> None:
    lost = sid("Opportunity", "d2")
    records = [
        {"attributes": {"type": "Opportunity"}, "id": lost, "Loss_Reason__c": "Budget"},
        {"attributes": {"type": "Opportunity"}, "id": "006000000000000AAA", "Loss_Reason__c": "x"},
        {"attributes": {"type": "Opportunity"}, "id": lost, "IsWon": True},
        {"attributes": {"type": "Opportunity"}, "id": "not-an-id", "Loss_Reason__c": "x"},
        {"attributes": {"type": "Opportunity"}, "id": lost, "Amount": "lots"},
    ]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": False, "records": records})
    assert results[0] == {"id": lost, "success": True, "errors": []}
    codes = [r["errors"][0]["statusCode"] for r in results[1:]]
    assert codes == [
        "ENTITY_IS_DELETED",
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        "MALFORMED_ID",
        "INVALID_TYPE_ON_FIELD_IN_RECORD",
    ]
    row = sf.query(f"SELECT Loss_Reason__c, SystemModstamp FROM Opportunity WHERE Id = '{lost}'")["records"][
        0
    ]
    assert row["Loss_Reason__c"] == "Budget"
    assert row["SystemModstamp"] == "2026-03-01T12:00:00.000+0000"


def test_collection_update_all_or_none_rolls_back(sf: Any) -> None:
    won = sid("Opportunity", "d1")
    records = [
        {"attributes": {"type": "Opportunity"}, "id": won, "Description": "should not stick"},
        {"attributes": {"type": "Opportunity"}, "id": won, "Nope__c": 1},
    ]
    results = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": records})
    assert [r["errors"][0]["statusCode"] for r in results] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK",
        "INVALID_FIELD",
    ]
    assert (
        sf.query(f"SELECT Description FROM Opportunity WHERE Id = '{won}'")["records"][0]["Description"]
        is None
    )


def test_collections_refuse_more_than_200_records(sf: Any) -> None:
    records = [{"attributes": {"type": "Opportunity"}, "id": sid("Opportunity", "d1")}] * 201
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.restful("composite/sobjects", method="PATCH", json={"records": records})
    assert error_code(caught.value) == "EXCEEDED_ID_LIMIT"


def test_upsert_by_external_id_creates_then_updates(sf: Any) -> None:
    def upsert(records: list[dict[str, Any]]) -> Any:
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": "Template_Score__c"}, **r} for r in records],
        }
        return sf.restful("composite/sobjects/Template_Score__c/Template_Id__c", method="PATCH", json=body)

    template = sid("EmailTemplate", "t1")
    first = upsert(
        [
            {"Template_Id__c": template, "Score__c": 71.5, "Deprecated__c": False},
            {"Template_Id__c": "up-b", "Score__c": 10},
            {"Template_Id__c": "up-b", "Score__c": 11},
            {"Score__c": 3},
        ]
    )
    assert [r["success"] for r in first] == [True, True, False, False]
    assert first[0]["created"] is True
    assert first[0]["id"].startswith("a0")
    assert [r["errors"][0]["statusCode"] for r in first[2:]] == ["DUPLICATE_VALUE", "MISSING_ARGUMENT"]
    again = upsert([{"Template_Id__c": template, "Score__c": 80.25, "Deprecated__c": True}])
    assert again == [{"id": first[0]["id"], "success": True, "errors": [], "created": False}]
    row = sf.query(
        f"SELECT Score__c, Deprecated__c, Name FROM Template_Score__c WHERE Template_Id__c = '{template}'"
    )
    assert row["records"][0]["Score__c"] == 80.25
    assert row["records"][0]["Deprecated__c"] is True
    assert sf.Template_Score__c.upsert("Template_Id__c/single-1", {"Score__c": 1.0}) == 201
    assert sf.Template_Score__c.upsert("Template_Id__c/single-1", {"Score__c": 2.0}) == 200
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful(
            "composite/sobjects/Template_Score__c/Score__c",
            method="PATCH",
            json={"records": [{"Score__c": 1}]},
        )
    assert upsert([{"Template_Id__c": "x", "Score__c": 1}])[0][
        "success"
    ]  # Template_Id__c is case-insensitive


def test_bulk2_upsert_through_simple_salesforce(sf: Any) -> None:
    records = [
        {"Template_Id__c": f"bulk-{i}", "Score__c": str(i), "Deprecated__c": "false"} for i in range(5)
    ]
    records.append({"Template_Id__c": "bulk-bad", "Score__c": "not a number", "Deprecated__c": "true"})
    (result,) = sf.bulk2.Template_Score__c.upsert(
        records=records, external_id_field="Template_Id__c", wait=0.05
    )
    assert result["numberRecordsTotal"] == 6
    assert result["numberRecordsProcessed"] == 6
    assert result["numberRecordsFailed"] == 1
    failed = list(
        csv.DictReader(io.StringIO(sf.bulk2.Template_Score__c.get_failed_records(result["job_id"])))
    )
    assert [row["Template_Id__c"] for row in failed] == ["bulk-bad"]
    assert failed[0]["sf__Error"].startswith("INVALID_TYPE_ON_FIELD_IN_RECORD:")
    good = list(
        csv.DictReader(io.StringIO(sf.bulk2.Template_Score__c.get_successful_records(result["job_id"])))
    )
    assert len(good) == 5
    assert good[0]["sf__Created"] == "true"
    rows = sf.query(
        "SELECT Template_Id__c, Score__c FROM Template_Score__c WHERE Template_Id__c LIKE 'bulk-%' "
        "ORDER BY Score__c DESC LIMIT 2"
    )["records"]
    assert [(r["Template_Id__c"], r["Score__c"]) for r in rows] == [("bulk-4", 4.0), ("bulk-3", 3.0)]


def test_bulk2_job_reports_in_progress_before_complete(sf: Any, server: SalesforceServer) -> None:
    base = f"{server.url}/services/data/v60.0/jobs/ingest"
    http = sf.session
    headers = {"Authorization": "Bearer sandbox-token", "Content-Type": "application/json"}
    job = http.post(base, json={"object": "Template_Score__c", "operation": "insert"}, headers=headers).json()
    assert job["state"] == "Open"
    upload = http.put(
        f"{base}/{job['id']}/batches",
        data="Template_Id__c,Score__c\nraw-1,5\n",
        headers={**headers, "Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    closed = http.patch(f"{base}/{job['id']}", json={"state": "UploadComplete"}, headers=headers).json()
    assert closed["state"] == "InProgress"
    assert http.put(f"{base}/{job['id']}/batches", data="x", headers=headers).status_code == 409


def test_tooling_installs_fields_that_describe_query_and_writes_see(sf: Any) -> None:
    created = sf.toolingexecute(
        "sobjects/CustomField",
        method="POST",
        data={
            "FullName": "Opportunity.Template_Score__c",
            "Metadata": {"label": "Template score", "type": "Number", "precision": 5, "scale": 2},
        },
    )
    assert created["success"] is True
    assert created["id"].startswith("00N")
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.toolingexecute(
            "sobjects/CustomField",
            method="POST",
            data={
                "FullName": "Opportunity.Template_Score__c",
                "Metadata": {"label": "again", "type": "Number"},
            },
        )
    assert error_code(caught.value) == "DUPLICATE_DEVELOPER_NAME"
    assert "Template_Score__c" in {f["name"] for f in sf.Opportunity.describe()["fields"]}
    won = sid("Opportunity", "d1")
    sf.Opportunity.update(won, {"Template_Score__c": 42.5})
    assert sf.Opportunity.get(won)["Template_Score__c"] == 42.5
    assert sf.query("SELECT COUNT() FROM Opportunity WHERE Template_Score__c = null")["totalSize"] == 4
    found = sf.toolingexecute(
        "query/?q=SELECT+Id,DeveloperName+FROM+CustomField+WHERE+TableEnumOrId='Opportunity'"
    )
    assert [r["DeveloperName"] for r in found["records"]] == ["Template_Score"]
    obj = sf.toolingexecute(
        "sobjects/CustomObject",
        method="POST",
        data={
            "FullName": "Score_Log__c",
            "Metadata": {
                "label": "Score Log",
                "pluralLabel": "Score Logs",
                "nameField": {"type": "Text", "label": "Name"},
            },
        },
    )
    assert obj["success"]
    assert sf.Score_Log__c.create({})["success"]


def test_every_api_response_carries_the_limit_header(sf: Any, server: SalesforceServer) -> None:
    sf.query("SELECT Id FROM Account")
    usage = sf.api_usage["api-usage"]
    assert usage.total == 100_000
    assert 0 < usage.used == server.sandbox.org.api_used
    response = requests.get(
        f"{server.url}/services/data/v60.0/limits",
        verify=server.ca_file,
        timeout=5,
        headers={"Authorization": "Bearer nope"},
    )
    assert response.status_code == 401
    assert "Sforce-Limit-Info" in response.headers


def test_admin_endpoints(server: SalesforceServer, tmp_path: Path) -> None:
    base, ca = f"{server.url}/_sandbox", server.ca_file
    stats = requests.get(f"{base}/stats", verify=ca, timeout=5).json()
    assert set(stats) == {"total", "by_endpoint", "rate_limited"}
    truth = requests.get(f"{base}/truth", verify=ca, timeout=5).json()
    assert set(truth["templates"]) == {sid("EmailTemplate", "t1"), sid("EmailTemplate", "t2")}
    assert requests.post(f"{base}/advance", json={"days": -1}, verify=ca, timeout=5).status_code == 400


def test_get_updated_and_deleted_match_soql(sf: Any) -> None:
    start, end = datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)
    updated = sf.Opportunity.updated(start, end)
    soql = (
        "SELECT Id FROM Opportunity WHERE SystemModstamp >= 2026-02-01T00:00:00Z "
        "AND SystemModstamp < 2026-03-01T00:00:00Z"
    )
    assert set(updated["ids"]) == {r["Id"] for r in sf.query(soql)["records"]}
    assert sid("Opportunity", "d4") in updated["ids"]
    assert sf.Opportunity.deleted(start, end)["deletedRecords"] == []


def test_identity_url_and_overlong_uris(sf: Any, server: SalesforceServer) -> None:
    http = trusting_session(server.ca_file)
    token = {"Authorization": "Bearer sandbox-token"}
    identity = http.post(
        f"{server.url}/services/oauth2/token",
        timeout=5,
        data={"grant_type": "refresh_token", "refresh_token": "nope", "client_id": "sandbox-client-id"},
    )
    assert identity.status_code == 400
    org, user = server.sandbox.org.org_id, server.sandbox.org.user_id
    assert http.get(f"{server.url}/id/{org}/{user}", headers=token, timeout=5).json()["user_id"] == user
    ids = ", ".join(f"'{sid('Opportunity', f'x{i}')}'" for i in range(900))
    with pytest.raises(SalesforceError) as caught:
        sf.query(f"SELECT Id FROM Opportunity WHERE Id IN ({ids})")
    assert caught.value.status == 414


def test_unknown_query_locators_are_refused(sf: Any) -> None:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.query_more("/services/data/v60.0/query/01gSb0000009999AAA-200", identifier_is_url=True)
    assert error_code(caught.value) == "INVALID_QUERY_LOCATOR"


def test_get_by_custom_id(sf: Any) -> None:
    sf.Template_Score__c.upsert("Template_Id__c/lookup-1", {"Score__c": 9.5})
    assert sf.Template_Score__c.get_by_custom_id("Template_Id__c", "LOOKUP-1")["Score__c"] == 9.5
    with pytest.raises(SalesforceResourceNotFound):
        sf.Template_Score__c.get_by_custom_id("Template_Id__c", "missing")
