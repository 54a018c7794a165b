"""Salesforce records to domain values: stages by metadata, stage lost, cadence positions, replies."""

from __future__ import annotations

from typing import Any

import pytest

from feedbackloop.connectors.salesforce.emails import (
    EmailContext,
    cadence_positions,
    map_emails,
    sentiment_of,
)
from feedbackloop.connectors.salesforce.mapping import classify_stages, map_opportunity, segment_for
from feedbackloop.connectors.salesforce.soql import email_query, opportunity_query
from feedbackloop.domain import Outcome

STAGES = classify_stages(
    [
        {"ApiName": "Discovery", "MasterLabel": "Discovery", "IsClosed": False, "IsWon": False},
        {"ApiName": "Proposal", "MasterLabel": "Proposal", "IsClosed": False, "IsWon": False},
        {"ApiName": "Signed", "MasterLabel": "Signed", "IsClosed": True, "IsWon": True},
        {"ApiName": "No decision", "MasterLabel": "No decision", "IsClosed": True, "IsWon": False},
    ]
)


def _opp(stage: str, **extra):
    return {
        "Id": "006A",
        "StageName": stage,
        "CloseDate": "2026-10-01",
        "CreatedDate": "2026-08-01T10:00:00.000+0000",
        "SystemModstamp": "2026-10-01T12:00:00.000+0000",
        "Amount": 1200.0,
        "Loss_Reason__c": "Bad timing",
        "Account": {"Industry": "Retail", "NumberOfEmployees": 350},
        "OpportunityHistories": {
            "records": [
                {"StageName": "Discovery", "CreatedDate": "2026-08-01T10:00:00.000+0000"},
                {"StageName": "Proposal", "CreatedDate": "2026-09-01T10:00:00.000+0000"},
                {"StageName": stage, "CreatedDate": "2026-10-01T10:00:00.000+0000"},
            ]
        },
        "OpportunityCompetitors": {"records": [{"CompetitorName": "Gong"}]},
        **extra,
    }


def test_outcome_comes_from_stage_metadata_not_labels() -> None:
    won = map_opportunity(_opp("Signed"), STAGES, "Loss_Reason__c")
    lost = map_opportunity(_opp("No decision"), STAGES, "Loss_Reason__c")
    assert not isinstance(won, str)
    assert not isinstance(lost, str)
    assert (won.outcome, won.loss_reason, won.stage_lost) == (Outcome.WON, None, None)
    assert (lost.outcome, lost.loss_reason, lost.stage_lost) == (Outcome.LOST, "Bad timing", "Proposal")
    assert (lost.segment, lost.industry, lost.competitor) == ("mid_market", "Retail", "Gong")
    assert lost.closed_at is not None
    assert lost.closed_at.tzinfo is not None


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        pytest.param(_opp("Mystery"), "unknown stage", id="unknown-stage"),
        pytest.param(_opp("Proposal"), "not closed", id="open"),
        pytest.param(_opp("Signed", CloseDate=None), "CloseDate", id="no-close-date"),
    ],
)
def test_odd_opportunities_are_skipped_with_a_reason(record, reason) -> None:
    result = map_opportunity(record, STAGES, None)
    assert isinstance(result, str)
    assert reason in result


@pytest.mark.parametrize(
    ("employees", "segment"),
    [(5, "smb"), (199, "smb"), (200, "mid_market"), (2000, "enterprise"), (None, None)],
)
def test_segment_from_employees(employees, segment) -> None:
    assert segment_for(employees) == segment


def test_positions_follow_the_step_graph_and_skip_wait_steps() -> None:
    steps: list[dict[str, Any]] = [  # deliberately out of order, with Wait steps between the emails
        {
            "Id": "77D000000000003",
            "ActionCadenceId": "77C1",
            "StepName": "E3",
            "ParentStepName": "W2",
            "Type": "SendAnEmail",
            "TemplateId": "00X3",
        },
        {
            "Id": "77D000000000001",
            "ActionCadenceId": "77C1",
            "StepName": "E1",
            "ParentStepName": None,
            "Type": "SendAnEmail",
            "TemplateId": "00X1",
        },
        {
            "Id": "77D00000000000W",
            "ActionCadenceId": "77C1",
            "StepName": "W2",
            "ParentStepName": "E2",
            "Type": "Wait",
        },
        {
            "Id": "77D000000000002",
            "ActionCadenceId": "77C1",
            "StepName": "E2",
            "ParentStepName": "E1",
            "Type": "AutoSendAnEmail",
            "TemplateId": "00X2",
        },
        {
            "Id": "77D00000000000X",
            "ActionCadenceId": "77C1",
            "StepName": "EX",
            "ParentStepName": "EX",
            "Type": "SendAnEmail",
        },
    ]
    positions = cadence_positions(steps)
    assert [positions[f"77D00000000000{i}"].position for i in (1, 2, 3)] == [1, 2, 3]
    assert positions["77D000000000003"].template_id == "00X3"
    assert positions["77D00000000000X"].position is None  # a cycle has no position


def test_emails_get_templates_from_cadence_steps_and_replies_from_threads() -> None:
    steps = cadence_positions(
        [
            {
                "Id": "77D000000000001",
                "ActionCadenceId": "77C1",
                "StepName": "E1",
                "Type": "SendAnEmail",
                "TemplateId": "00X1",
            }
        ]
    )
    emails: list[dict[str, Any]] = [
        {
            "Id": "02s1",
            "RelatedToId": "006A",
            "Incoming": False,
            "MessageDate": "2026-09-01T10:00:00.000+0000",
            "ThreadIdentifier": "t1",
            "IsOpened": True,
            "EmailTemplateId": None,
            "ActionCadenceStepTracker": {"ActionCadenceStepId": "77D000000000001AAA"},
        },
        {
            "Id": "02s2",
            "RelatedToId": "006A",
            "Incoming": False,
            "MessageDate": "2026-09-03T10:00:00.000+0000",
            "ThreadIdentifier": "t1",
            "IsOpened": False,
            "EmailTemplateId": "00X9",
        },
        {
            "Id": "02s3",
            "RelatedToId": "006A",
            "Incoming": True,
            "MessageDate": "2026-09-04T10:00:00.000+0000",
            "ThreadIdentifier": "t1",
            "TextBody": "Sounds great, let's book a demo",
        },
        {"Id": "02s4", "RelatedToId": None, "Incoming": False, "MessageDate": "2026-09-04T10:00:00.000+0000"},
    ]
    messages, skipped = map_emails(emails, EmailContext(steps, False, False, {"006A": "003C"}))
    first, second = messages
    assert (first.template_id, first.position, first.sequence_id, first.opened, first.replied) == (
        "00X1",
        1,
        "77C1",
        True,
        False,
    )
    assert (second.template_id, second.replied, second.contact_id) == ("00X9", True, "003C")
    assert second.response_sentiment is not None
    assert second.response_sentiment > 0
    assert first.clicked is None  # no FirstLinkClickedDate in this org
    assert skipped == [("02s4", "email without an opportunity")]


def test_queries_select_optional_fields_only_when_present() -> None:
    bare = email_query(["006A"], has_reply=False, has_click=False, has_tracker=False)
    assert "HasReply" not in bare
    assert "ActionCadenceStepTracker" not in bare
    assert "IN ('006A')" in bare
    full = email_query(["006A"], has_reply=True, has_click=True, has_tracker=True)
    assert "HasReply" in full
    assert "ActionCadenceStepTracker.ActionCadenceStepId" in full
    soql = opportunity_query(None, loss_reason_field="Reason_Lost__c")
    assert "Reason_Lost__c" in soql
    assert "ORDER BY SystemModstamp, Id" in soql
    assert "IsClosed = true" in soql


def test_unlinked_emails_reach_the_opportunity_through_contact_roles() -> None:
    from feedbackloop.connectors.salesforce.contactroles import attribute_emails

    def opp(opp_id: str, created: str, closed: str | None, contact: str) -> dict[str, Any]:
        roles = {"records": [{"ContactId": contact}]}
        return {
            "Id": opp_id,
            "CreatedDate": created,
            "CloseDate": closed,
            "IsClosed": closed is not None,
            "OpportunityContactRoles": roles,
        }

    opportunities = [
        opp("006OLD", "2026-01-01T00:00:00.000+0000", "2026-03-01", "003C"),
        opp("006NEW", "2026-04-01T00:00:00.000+0000", "2026-06-01", "003C"),
        opp("006ELSE", "2026-01-01T00:00:00.000+0000", None, "003D"),
    ]
    emails = [
        {"Id": "02sA", "MessageDate": "2026-02-10T09:00:00.000+0000"},  # while the first was open
        {"Id": "02sB", "MessageDate": "2026-05-10T09:00:00.000+0000"},  # while the second was open
        {"Id": "02sC", "MessageDate": "2026-03-20T09:00:00.000+0000"},  # between the two: nobody's
        {"Id": "02sD", "MessageDate": "2026-05-10T09:00:00.000+0000"},  # a contact on no opportunity
    ]
    relations = [{"EmailMessageId": e, "RelationId": "003C"} for e in ("02sA", "02sB", "02sC")]
    relations.append({"EmailMessageId": "02sD", "RelationId": "003X"})
    linked = {e["Id"]: e["RelatedToId"] for e in attribute_emails(emails, relations, opportunities)}
    assert linked == {"02sA": "006OLD", "02sB": "006NEW"}


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        pytest.param("Sounds great, let's book a call next week.", 1, id="meeting"),
        pytest.param("Yes, let's talk. Does Tuesday work for a call?", 1, id="yes"),
        pytest.param("Thanks, but the pricing is above our budget", -1, id="price"),
        pytest.param("Thanks, but I need to check with my boss", -1, id="authority"),
        pytest.param("Please unsubscribe me, not interested.", -1, id="refusal"),
        pytest.param("Thanks for reaching out.", 0, id="courtesy"),
    ],
)
def test_reply_sentiment_sign(text: str, sign: int) -> None:
    score = sentiment_of(text)
    assert score is not None
    assert (score > 0) - (score < 0) == sign
