"""HubSpot → domain mapping, reply linking, sentiment and failure classification (pure, no HTTP)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from urllib3.exceptions import ProtocolError

from feedbackloop.connectors.base import SkippedRecord
from feedbackloop.connectors.hubspot.client import HttpStatusError, classify
from feedbackloop.connectors.hubspot.emails import EmailRecord, messages_for_deal
from feedbackloop.connectors.hubspot.mapping import (
    SegmentRules,
    deal_from,
    outcome_of,
    parse_time,
    stage_lost,
    stages_from_pipelines,
    step_positions,
)
from feedbackloop.connectors.hubspot.sentiment import score_sentiment
from feedbackloop.domain import Deal, Outcome

# Labels deliberately lie ("Closed lost" that is open, "Signed" that is won): only metadata counts.
PIPELINES = [
    {
        "id": "default",
        "stages": [
            {
                "id": "disc",
                "label": "Discovery",
                "displayOrder": 0,
                "metadata": {"isClosed": "false", "probability": "0.2"},
            },
            {
                "id": "demo",
                "label": "Closed lost",
                "displayOrder": 1,
                "metadata": {"isClosed": "false", "probability": "0.8"},
            },
            {
                "id": "won",
                "label": "Signed",
                "displayOrder": 2,
                "metadata": {"isClosed": "true", "probability": "1.0"},
            },
            {
                "id": "lost",
                "label": "Closed won",
                "displayOrder": 3,
                "metadata": {"isClosed": "true", "probability": "0.0"},
            },
            {
                "id": "odd",
                "label": "Parked",
                "displayOrder": 4,
                "metadata": {"isClosed": "true", "probability": "0.5"},
            },
        ],
    }
]
STAGES = stages_from_pipelines(PIPELINES)


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        pytest.param({"dealstage": "won"}, Outcome.WON, id="won-by-metadata-despite-label"),
        pytest.param({"dealstage": "lost"}, Outcome.LOST, id="lost-by-metadata-despite-label"),
        pytest.param({"dealstage": "demo"}, Outcome.OPEN, id="open-although-labelled-closed-lost"),
        pytest.param(
            {"dealstage": "odd", "hs_is_closed_won": "true"}, Outcome.WON, id="ambiguous-stage-uses-flags"
        ),
        pytest.param(
            {"dealstage": "gone", "hs_is_closed_lost": "true"}, Outcome.LOST, id="unknown-stage-uses-flags"
        ),
        pytest.param({"dealstage": "odd"}, None, id="ambiguous-without-flags"),
    ],
)
def test_outcome_comes_from_metadata_never_labels(props: dict[str, str], expected: Outcome | None) -> None:
    assert outcome_of(props, STAGES) is expected


@pytest.mark.parametrize(
    ("employees", "amount", "segment"),
    [
        pytest.param(199, None, "smb", id="199-employees"),
        pytest.param(200, None, "mid_market", id="200-employees"),
        pytest.param(1999, 1.0, "mid_market", id="employees-win-over-amount"),
        pytest.param(2000, None, "enterprise", id="2000-employees"),
        pytest.param(None, 14_999.0, "smb", id="amount-smb"),
        pytest.param(None, 59_999.0, "mid_market", id="amount-mid"),
        pytest.param(None, 60_000.0, "enterprise", id="amount-enterprise"),
        pytest.param(None, None, None, id="nothing-known"),
    ],
)
def test_segment_rules(employees: float | None, amount: float | None, segment: str | None) -> None:
    assert SegmentRules().segment(employees, amount) == segment


def test_segment_thresholds_are_configurable() -> None:
    rules = SegmentRules.from_settings({"smb_employees": 50, "mid_employees": 500})
    assert [rules.segment(e, None) for e in (49, 50, 499, 500)] == [
        "smb",
        "mid_market",
        "mid_market",
        "enterprise",
    ]


def test_parse_time_accepts_iso_and_ms() -> None:
    expected = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_time("2026-01-02T03:04:05Z") == expected
    assert parse_time("2026-01-02T03:04:05.000Z") == expected
    assert parse_time(str(int(expected.timestamp() * 1000))) == expected
    assert parse_time("") is None
    assert parse_time("yesterday") is None


def _deal_props(**extra: str) -> dict[str, Any]:
    return {
        "dealstage": "lost",
        "closedate": "2026-03-01T00:00:00Z",
        "createdate": "2026-01-01T00:00:00Z",
        "amount": "5000",
        "closed_lost_reason": "Price too high",
        "hs_v2_date_entered_disc": "2026-01-02T00:00:00Z",
        "hs_v2_date_entered_demo": "2026-02-01T00:00:00Z",
        "hs_v2_date_entered_lost": "2026-03-01T00:00:00Z",
        "hs_lastmodifieddate": "2026-03-01T00:00:00Z",
        **extra,
    }


def test_stage_lost_is_the_last_open_stage_entered() -> None:
    assert stage_lost(_deal_props(), STAGES) == "Closed lost"  # the (open) stage labelled "Closed lost"
    props = _deal_props()
    del props["hs_v2_date_entered_demo"]
    assert stage_lost(props, STAGES) == "Discovery"


def test_deal_from_maps_a_lost_deal_with_company_segment() -> None:
    deal = deal_from(
        "7",
        _deal_props(),
        STAGES,
        company={"numberofemployees": "2500", "industry": "Retail"},
        rules=SegmentRules(),
    )
    assert isinstance(deal, Deal)
    assert (deal.outcome, deal.segment, deal.industry, deal.loss_reason, deal.stage_lost, deal.amount) == (
        Outcome.LOST,
        "enterprise",
        "Retail",
        "Price too high",
        "Closed lost",
        5000.0,
    )


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        pytest.param({"closedate": ""}, "closed deal without a valid closedate", id="no-closedate"),
        pytest.param({"closedate": "soon"}, "closed deal without a valid closedate", id="odd-closedate"),
        pytest.param({"amount": "-5"}, "negative amount -5.0", id="negative-amount"),
        pytest.param({"dealstage": "odd"}, "stage 'odd' has no won/lost metadata", id="ambiguous-stage"),
    ],
)
def test_odd_deals_are_skipped_with_a_reason(extra: dict[str, str], reason: str) -> None:
    result = deal_from("9", _deal_props(**extra), STAGES, company=None, rules=SegmentRules())
    assert result == SkippedRecord("deal", "9", reason)


def test_step_positions_from_a_sequence_definition() -> None:
    sequence = {
        "steps": [
            {"stepOrder": 0, "actionType": "EMAIL", "emailPattern": {"templateId": "A"}},
            {"stepOrder": 1, "actionType": "TASK", "taskPattern": {"templateId": 5}},
            {"stepOrder": 2, "actionType": "EMAIL", "emailPattern": {"templateId": "B"}},
            {"stepOrder": 3, "actionType": "EMAIL", "emailPattern": {"templateId": "A"}},
        ]
    }
    assert step_positions(sequence) == {"A": [1, 4], "B": [3]}


def _email(eid: str, at: str, **props: str) -> EmailRecord:
    return EmailRecord(
        eid, {"hs_timestamp": at, "hs_email_direction": "EMAIL", "hs_email_status": "SENT", **props}
    )


ALL = {
    "hs_template_id",
    "hs_sequence_id",
    "hs_email_open_count",
    "hs_email_click_count",
    "hs_email_reply_count",
}


def test_messages_get_positions_engagement_and_reply_features() -> None:
    emails = [
        _email("1", "2026-01-01T00:00:00Z", hs_template_id="A", hs_sequence_id="S", hs_email_open_count="2",
               hs_email_click_count="0", hs_email_reply_count="0", hs_email_thread_id="t"),
        _email("2", "2026-01-05T00:00:00Z", hs_template_id="A", hs_sequence_id="S", hs_email_open_count="0",
               hs_email_click_count="1", hs_email_reply_count="1", hs_email_thread_id="t"),
        _email("3", "2026-01-06T00:00:00Z", hs_email_thread_id="t"),  # ad-hoc email: no template
        EmailRecord("r1", {"hs_timestamp": "2026-01-07T00:00:00Z", "hs_email_direction": "INCOMING_EMAIL",
                           "hs_in_reply_to_engagement_id": "2", "hs_email_thread_id": "t",
                           "hs_email_text": "This is too expensive for us, not interested."}),
        _email("4", "2026-01-08T00:00:00Z", hs_email_status="BOUNCED"),
    ]  # fmt: skip
    messages, skipped = messages_for_deal("D", "C", emails, {"S": {"A": [1, 4]}}.get, ALL)
    by_id = {m.message_id: m for m in messages}
    assert sorted(by_id) == ["1", "2", "3"]
    assert (by_id["1"].position, by_id["2"].position, by_id["3"].position) == (1, 4, None)
    assert (by_id["1"].opened, by_id["1"].clicked, by_id["1"].replied) == (True, False, False)
    assert (by_id["2"].opened, by_id["2"].clicked, by_id["2"].replied) == (False, True, True)
    assert by_id["2"].response_sentiment is not None
    assert by_id["2"].response_sentiment < 0
    assert all(m.contact_id == "C" and m.deal_id == "D" for m in messages)
    assert skipped == [SkippedRecord("message", "4", "email not sent (BOUNCED)")]


def test_without_reply_counts_replies_come_from_the_thread() -> None:
    emails = [
        _email("1", "2026-01-01T00:00:00Z", hs_email_thread_id="t1"),
        _email("2", "2026-01-03T00:00:00Z", hs_email_thread_id="t2"),
        EmailRecord("r", {"hs_timestamp": "2026-01-04T00:00:00Z", "hs_email_direction": "INCOMING_EMAIL",
                          "hs_email_thread_id": "t1", "hs_email_text": "Sounds great, let's book a call."}),
    ]  # fmt: skip
    messages, _ = messages_for_deal("D", None, emails, lambda s: None, set())
    replied = {m.message_id: (m.replied, m.opened) for m in messages}
    assert replied == {"1": (True, None), "2": (False, None)}
    assert messages[0].response_sentiment == 1.0


def test_email_without_timestamp_is_skipped() -> None:
    messages, skipped = messages_for_deal(
        "D", None, [EmailRecord("x", {"hs_email_direction": "EMAIL"})], lambda s: None, ALL
    )
    assert messages == []
    assert skipped == [SkippedRecord("message", "x", "email without a valid hs_timestamp")]


@pytest.mark.parametrize(
    ("text", "sign"),
    [
        pytest.param("Sounds great, let's book a call next week.", 1, id="meeting-intent"),
        pytest.param("Interesting, send me a meeting invite.", 1, id="invite"),
        pytest.param("This is too expensive for us", -1, id="price"),
        pytest.param("We are not interested", -1, id="not-interested-is-not-interested"),
        pytest.param("Thanks for reaching out.", 0, id="neutral"),
    ],
)
def test_sentiment_lexicon_signs(text: str, sign: int) -> None:
    score = score_sentiment(text)
    assert score is not None
    assert (score > 0) - (score < 0) == sign
    assert score_sentiment("") is None


def _http(status: int, body: str = "", headers: dict[str, str] | None = None) -> HttpStatusError:
    return HttpStatusError(status, headers or {}, body)


@pytest.mark.parametrize(
    ("exc", "attempt", "wait"),
    [
        pytest.param(_http(429, '{"policyName":"TEN_SECONDLY_ROLLING"}'), 1, 10.0, id="ten-secondly-first"),
        pytest.param(_http(429, '{"policyName":"TEN_SECONDLY_ROLLING"}'), 3, 30.0, id="ten-secondly-third"),
        pytest.param(_http(429, '{"policyName":"SECONDLY"}'), 2, 2.0, id="search-secondly"),
        pytest.param(
            _http(429, '{"policyName":"SECONDLY"}', {"Retry-After": "4"}), 1, 4.0, id="retry-after-wins"
        ),
        pytest.param(_http(503), 1, None, id="5xx-backoff"),
        pytest.param(_http(423), 1, 2.0, id="locked-2s"),
        pytest.param(ProtocolError("reset"), 1, None, id="connection-reset"),
        pytest.param(requests.ConnectionError("refused"), 1, None, id="requests-connection"),
    ],
)
def test_classify_retries_transient_failures(exc: BaseException, attempt: int, wait: float | None) -> None:
    transient = classify(exc, attempt)
    assert transient is not None
    assert transient.wait == wait


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(_http(429, '{"policyName":"DAILY"}'), id="daily-limit"),
        pytest.param(_http(400), id="bad-request"),
        pytest.param(_http(401), id="unauthorized"),
        pytest.param(_http(404), id="not-found"),
        pytest.param(ValueError("bug"), id="our-bug"),
    ],
)
def test_classify_fails_fast_on_permanent_failures(exc: BaseException) -> None:
    assert classify(exc) is None


def test_classify_duck_types_every_sdk_exception_class() -> None:
    from hubspot.crm.associations.v4 import ApiException as AssociationsError
    from hubspot.crm.deals import ApiException as DealsError

    assert DealsError is not AssociationsError
    for cls in (DealsError, AssociationsError):
        exc = cls(status=429, reason="Too Many Requests")
        exc.body = b'{"policyName":"TEN_SECONDLY_ROLLING"}'
        exc.headers = {}
        transient = classify(exc, 2, wait_scale=0.5)
        assert transient is not None
        assert transient.wait == 10.0


def test_objections_of_all_replies_are_merged_in_order() -> None:
    def finder(text: str | None) -> tuple[str, ...]:
        words = (text or "").lower()
        return tuple(c for c in ("price", "timing", "competitor") if c in words)

    emails = [
        _email("1", "2026-01-01T00:00:00Z", hs_email_thread_id="t"),
        EmailRecord("r1", {"hs_timestamp": "2026-01-02T00:00:00Z", "hs_email_direction": "INCOMING_EMAIL",
                           "hs_in_reply_to_engagement_id": "1", "hs_email_text": "timing and price"}),
        EmailRecord("r2", {"hs_timestamp": "2026-01-03T00:00:00Z", "hs_email_direction": "INCOMING_EMAIL",
                           "hs_in_reply_to_engagement_id": "1", "hs_email_text": "a competitor, and price"}),
    ]  # fmt: skip
    messages, _ = messages_for_deal("D", None, emails, lambda s: None, ALL, finder)
    assert messages[0].objections == ("price", "timing", "competitor")
    assert messages[0].replied is True
