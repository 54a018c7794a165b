"""SOQL subset semantics over the tiny world, as a table of queries and the rows Salesforce would return."""

from __future__ import annotations

import threading

import pytest

from feedbackloop.sandbox.salesforce.ids import derived_id, is_salesforce_id, to_18
from feedbackloop.sandbox.salesforce.org import OrgData, OrgOptions
from feedbackloop.sandbox.salesforce.soql import SoqlError, parse_soql
from feedbackloop.sandbox.salesforce.soql_eval import evaluate
from tests.test_sandbox_salesforce_fixtures import TinyWorld, sf_id

D1 = sf_id("Opportunity", "d1")


@pytest.fixture(scope="module")
def org() -> OrgData:
    return OrgData(TinyWorld(), threading.RLock(), OrgOptions())


def names(org: OrgData, where_and_order: str, field: str = "Name", obj: str = "Opportunity") -> list[str]:
    result = evaluate(parse_soql(f"SELECT {field} FROM {obj} {where_and_order}"), org, "60.0")
    return [r[field] for r in result.render(result.records)]


ORDERED = [
    ("WHERE IsClosed = true AND IsWon = false ORDER BY Name", ["Globex pilot", "Globex_100% deal"]),
    (
        "WHERE Amount != null ORDER BY Amount",
        ["Globex_100% deal", "Globex pilot", "Acme renewal", "Initrode expansion"],
    ),
    (
        "ORDER BY Amount DESC NULLS LAST",
        ["Initrode expansion", "Acme renewal", "Globex pilot", "Globex_100% deal", "acme add-on"],
    ),
    (
        "ORDER BY Amount",
        ["acme add-on", "Globex_100% deal", "Globex pilot", "Acme renewal", "Initrode expansion"],
    ),
    ("ORDER BY Amount NULLS LAST LIMIT 1", ["Globex_100% deal"]),
    (
        "ORDER BY Account.Name, Amount DESC",
        ["Acme renewal", "acme add-on", "Globex pilot", "Globex_100% deal", "Initrode expansion"],
    ),
    ("ORDER BY Name LIMIT 2 OFFSET 1", ["Acme renewal", "Globex pilot"]),
    ("ORDER BY CloseDate DESC LIMIT 2", ["acme add-on", "Initrode expansion"]),
]

UNORDERED = [
    ("WHERE Amount > 5000", {"Acme renewal", "Initrode expansion"}),
    ("WHERE Amount >= 5000 AND Amount <= 12000", {"Acme renewal", "Globex pilot"}),
    ("WHERE Amount != 5000", {"Acme renewal", "Initrode expansion", "acme add-on", "Globex_100% deal"}),
    ("WHERE Amount = null", {"acme add-on"}),
    ("WHERE StageName IN ('Signed', 'negotiation')", {"Acme renewal", "Initrode expansion"}),
    ("WHERE StageName NOT IN ('Signed', 'No decision')", {"Initrode expansion", "acme add-on"}),
    ("WHERE Name LIKE 'acme%'", {"Acme renewal", "acme add-on"}),
    ("WHERE Name LIKE 'Globex\\_%'", {"Globex_100% deal"}),
    ("WHERE Name LIKE '%100\\%%'", {"Globex_100% deal"}),
    ("WHERE Name LIKE 'Acme_renewal'", {"Acme renewal"}),
    ("WHERE Account.Industry = 'banking'", {"Acme renewal", "acme add-on"}),
    ("WHERE Account.Industry = null", {"Initrode expansion"}),
    ("WHERE Account.NumberOfEmployees >= 450 AND (IsWon = true OR IsClosed = false)", {"Initrode expansion"}),
    ("WHERE (Amount < 3000 OR Amount > 50000) AND IsClosed = true", {"Globex_100% deal"}),
    ("WHERE NOT (IsClosed = true)", {"Initrode expansion", "acme add-on"}),
    ("WHERE NOT Name LIKE '%e%' OR Amount = 5000", {"Globex pilot"}),
    ("WHERE CloseDate >= 2026-02-01 AND CloseDate < 2026-03-01", {"Acme renewal", "Globex pilot"}),
    ("WHERE CreatedDate > 2026-02-01T00:00:00Z", {"Initrode expansion", "acme add-on"}),
    ("WHERE CreatedDate > 2026-02-01T10:00:00+01:00", {"acme add-on"}),
    ("WHERE CreatedDate >= 2026-02-01T09:00:00.000Z", {"Initrode expansion", "acme add-on"}),
    ("WHERE CreatedDate = LAST_N_DAYS:30", {"Initrode expansion", "acme add-on"}),
    ("WHERE CloseDate = LAST_N_DAYS:30", {"Acme renewal", "Globex pilot"}),
    ("WHERE CloseDate < LAST_N_DAYS:30", {"Globex_100% deal"}),
    ("WHERE CloseDate > TODAY", {"Initrode expansion", "acme add-on"}),
    ("WHERE CreatedDate = THIS_YEAR", {"Acme renewal", "Globex pilot", "Initrode expansion", "acme add-on"}),
    ("WHERE CreatedDate = LAST_YEAR", {"Globex_100% deal"}),
    (f"WHERE Id = '{D1[:15]}'", {"Acme renewal"}),
    (f"WHERE Id IN ('{D1}', '{D1[:15]}', '006000000000000AAA')", {"Acme renewal"}),
    ("WHERE Id = '006000000000000AAA'", set()),
    ("WHERE Loss_Reason__c = 'price'", {"Globex pilot"}),
]


@pytest.mark.parametrize(("clause", "expected"), ORDERED, ids=[c for c, _ in ORDERED])
def test_ordered_queries(org: OrgData, clause: str, expected: list[str]) -> None:
    assert names(org, clause) == expected


@pytest.mark.parametrize(("clause", "expected"), UNORDERED, ids=[c for c, _ in UNORDERED])
def test_filters(org: OrgData, clause: str, expected: set[str]) -> None:
    found = names(org, clause)
    assert len(found) == len(set(found))
    assert set(found) == expected


def test_other_objects(org: OrgData) -> None:
    assert names(org, "WHERE Incoming = true", "Subject", "EmailMessage") == ["Re: Hello m1"]
    assert len(names(org, "WHERE ThreadIdentifier = 'th-d1'", "Id", "EmailMessage")) == 3
    assert names(org, "WHERE IsClosed = true ORDER BY SortOrder", "MasterLabel", "OpportunityStage") == [
        "Signed",
        "No decision",
    ]
    assert names(org, "WHERE Type = 'SendAnEmail' ORDER BY StepName", "StepName", "ActionCadenceStep") == [
        "Email_s1_1",
        "Email_s1_2",
    ]


def test_child_subquery_and_count(org: OrgData) -> None:
    soql = (
        "SELECT Name, (SELECT StageName FROM OpportunityHistories ORDER BY CreatedDate DESC) "
        "FROM Opportunity "
        "WHERE IsClosed = true ORDER BY Name"
    )
    result = evaluate(parse_soql(soql), org, "60.0")
    rows = result.render(result.records)
    assert [[h["StageName"] for h in r["OpportunityHistories"]["records"]] for r in rows] == [
        ["Signed", "Prospecting"],
        ["No decision", "Prospecting"],
        ["No decision", "Prospecting"],
    ]
    count = evaluate(parse_soql("SELECT COUNT() FROM Opportunity WHERE IsWon = false"), org, "60.0")
    assert count.count_only
    assert len(count.records) == 4


ERRORS = [
    ("SELECT FROM Opportunity", "MALFORMED_QUERY"),
    ("SELECT Id FROM Opportunity WHERE Amount > 'x'", "INVALID_QUERY_FILTER_OPERATOR"),
    ("SELECT Id FROM Opportunity WHERE IsWon > true", "INVALID_QUERY_FILTER_OPERATOR"),
    ("SELECT Id FROM Opportunity WHERE CloseDate > '2026-01-01'", "INVALID_QUERY_FILTER_OPERATOR"),
    ("SELECT Id FROM Opportunity WHERE CreatedDate > 2026-01-01", "INVALID_QUERY_FILTER_OPERATOR"),
    ("SELECT Id FROM Opportunity WHERE Amount = null AND", "MALFORMED_QUERY"),
    ("SELECT Id FROM Opportunity WHERE CreatedDate > LAST_N_FORTNIGHTS:2", "MALFORMED_QUERY"),
    ("SELECT Id FROM Opportunity WHERE Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR"),
    ("SELECT Id FROM Opportunity OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
    ("SELECT Id FROM Opportunity WHERE Foo.Bar = 1", "INVALID_FIELD"),
    ("SELECT COUNT(), Id FROM Opportunity", "MALFORMED_QUERY"),
    ("SELECT Id FROM Opportunity WHERE Name = 'unterminated", "MALFORMED_QUERY"),
    (
        "SELECT Id FROM Opportunity WHERE Id IN (SELECT OpportunityId FROM OpportunityHistory)",
        "MALFORMED_QUERY",
    ),
    ("SELECT Id FROM Opportunity WHERE Amount > 1 AND Amount < 2 OR IsWon = true", "MALFORMED_QUERY"),
    ("SELECT Id FROM Opportunity LIMIT -1", "MALFORMED_QUERY"),
    ("SELECT Id, (SELECT Id FROM Nopes) FROM Opportunity", "INVALID_TYPE"),
]


@pytest.mark.parametrize(("soql", "code"), ERRORS, ids=[s for s, _ in ERRORS])
def test_errors(org: OrgData, soql: str, code: str) -> None:
    with pytest.raises(SoqlError) as caught:
        evaluate(parse_soql(soql), org, "60.0")
    assert caught.value.code == code


def test_switched_off_optional_fields_do_not_exist() -> None:
    org = OrgData(
        TinyWorld(), threading.RLock(), OrgOptions(disabled_fields=frozenset({"EmailMessage.HasReply"}))
    )
    with pytest.raises(SoqlError) as caught:
        evaluate(parse_soql("SELECT HasReply FROM EmailMessage"), org, "60.0")
    assert caught.value.code == "INVALID_FIELD"
    assert names(org, "WHERE Incoming = true", "FirstLinkClickedDate", "EmailMessage") == [None]


def test_ids_are_deterministic_and_checksummed() -> None:
    first = derived_id("006", "deal-1")
    assert first == derived_id("006", "deal-1") != derived_id("006", "deal-2")
    assert first.startswith("006")
    assert len(first) == 18
    assert is_salesforce_id(first)
    assert is_salesforce_id(first[:15])
    flipped = (
        first[:5] + first[5].swapcase() + first[6:] if first[5].isalpha() else first[:3] + "A" + first[4:]
    )
    assert to_18(flipped[:15]) != first
