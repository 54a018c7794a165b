"""A deal's HubSpot email engagements → outbound :class:`Message` values (pure; reply texts not kept).

Outbound emails (``hs_email_direction == "EMAIL"``, not bounced/failed/scheduled) become messages;
incoming ones (``INCOMING_EMAIL``) are replies: linked to the outbound email through
``hs_in_reply_to_engagement_id``, else to the latest outbound email sent before them in the same thread
(``hs_email_thread_id``), else in the deal. A reply sets ``replied``, its text gives the sentiment
(lexicon scorer) and objection categories (``find_objections``); the text itself is dropped here.

The optional tracking properties degrade gracefully: without ``hs_email_reply_count`` replies come from
threads only; without open/click counts ``opened``/``clicked`` stay unknown (None).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedbackloop.connectors.base import SkippedRecord
from feedbackloop.connectors.hubspot.mapping import parse_time, to_float
from feedbackloop.connectors.hubspot.sentiment import score_sentiment
from feedbackloop.domain import Message
from feedbackloop.engine.objections import find_objections

__all__ = [
    "EMAIL_PROPERTIES",
    "OPTIONAL_EMAIL_PROPERTIES",
    "EmailRecord",
    "messages_for_deal",
]

#: Documented email properties the sync reads (reference §2.2).
EMAIL_PROPERTIES = (
    "hs_timestamp",
    "hs_email_direction",
    "hs_email_status",
    "hs_email_thread_id",
    "hs_in_reply_to_engagement_id",
    "hs_email_text",
    "hubspot_owner_id",
)
#: Undocumented but common properties (reference §2.3), checked per portal by ``check``.
OPTIONAL_EMAIL_PROPERTIES = (
    "hs_template_id",
    "hs_sequence_id",
    "hs_email_open_count",
    "hs_email_click_count",
    "hs_email_reply_count",
)
_NOT_SENT = {"BOUNCED", "FAILED", "SCHEDULED", "SENDING"}


@dataclass(frozen=True)
class EmailRecord:
    """One email engagement as read from HubSpot: its id and string properties."""

    email_id: str
    props: Mapping[str, Any]

    @property
    def direction(self) -> str:
        return str(self.props.get("hs_email_direction") or "")

    @property
    def sent_at(self) -> datetime | None:
        return parse_time(self.props.get("hs_timestamp"))


def _count(props: Mapping[str, Any], name: str, available: set[str]) -> bool | None:
    if name not in available:
        return None
    value = to_float(props.get(name))
    return None if value is None else value > 0


def _link_replies(
    outbound: list[tuple[EmailRecord, datetime]], replies: list[tuple[EmailRecord, datetime]]
) -> dict[str, list[EmailRecord]]:
    by_id = {e.email_id: e for e, _ in outbound}
    linked: dict[str, list[EmailRecord]] = {}
    for reply, at in sorted(replies, key=lambda r: r[1]):
        target = str(reply.props.get("hs_in_reply_to_engagement_id") or "")
        if target not in by_id:
            thread = reply.props.get("hs_email_thread_id")
            before = [(e, t) for e, t in outbound if t <= at]
            same = [(e, t) for e, t in before if thread and e.props.get("hs_email_thread_id") == thread]
            pool = same or before
            target = max(pool, key=lambda p: (p[1], p[0].email_id))[0].email_id if pool else ""
        if target:
            linked.setdefault(target, []).append(reply)
    return linked


def messages_for_deal(
    deal_id: str,
    contact_id: str | None,
    emails: list[EmailRecord],
    positions: Callable[[str], Mapping[str, list[int]] | None],
    available: set[str],
    objections_of: Callable[[str | None], tuple[str, ...]] | None = None,
) -> tuple[list[Message], list[SkippedRecord]]:
    """The deal's outbound messages, with positions, engagement and reply features.

    ``objections_of`` defaults to the insights engine's ``find_objections``.
    """
    finder = objections_of or find_objections
    skipped: list[SkippedRecord] = []
    outbound: list[tuple[EmailRecord, datetime]] = []
    replies: list[tuple[EmailRecord, datetime]] = []
    for email in emails:
        at = email.sent_at
        if at is None:
            skipped.append(SkippedRecord("message", email.email_id, "email without a valid hs_timestamp"))
            continue
        if email.direction == "INCOMING_EMAIL":
            replies.append((email, at))
        elif email.direction == "EMAIL":
            status = str(email.props.get("hs_email_status") or "SENT").upper()
            if status in _NOT_SENT:
                skipped.append(SkippedRecord("message", email.email_id, f"email not sent ({status})"))
            else:
                outbound.append((email, at))
    outbound.sort(key=lambda p: (p[1], p[0].email_id))
    linked = _link_replies(outbound, replies)
    seen: dict[tuple[str, str], int] = {}
    messages: list[Message] = []
    for email, at in outbound:
        props = email.props
        template = str(props.get("hs_template_id") or "") or None
        sequence = str(props.get("hs_sequence_id") or "") or None
        position: int | None = None
        if template and sequence:
            steps = (positions(sequence) or {}).get(template) or []
            k = seen.get((sequence, template), 0)
            seen[(sequence, template)] = k + 1
            if steps:
                position = steps[min(k, len(steps) - 1)]
        answers = linked.get(email.email_id, [])
        replied = bool(answers) or bool(_count(props, "hs_email_reply_count", available))
        texts = [str(r.props.get("hs_email_text") or "") for r in answers]
        objections: list[str] = []
        for text in texts:
            objections.extend(c for c in finder(text) if c not in objections)
        messages.append(
            Message(
                message_id=email.email_id,
                deal_id=deal_id,
                sent_at=at,
                template_id=template,
                sequence_id=sequence,
                position=position,
                channel="email",
                direction="outbound",
                contact_id=contact_id,
                opened=_count(props, "hs_email_open_count", available),
                clicked=_count(props, "hs_email_click_count", available),
                replied=replied,
                response_sentiment=score_sentiment(texts[0]) if texts else None,
                objections=tuple(objections),
            )
        )
    return messages, skipped
