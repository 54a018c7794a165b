"""Salesforce records to domain values: stages, opportunities, cadence positions, emails and replies.

Pure functions over the JSON records the REST API returns (field names as in the object reference).
Outcomes come from ``OpportunityStage.IsClosed/IsWon``, never from stage labels; a record that cannot be
used is returned as a reason string so that the sync reports it and goes on.
"""

from __future__ import annotations

import importlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from feedbackloop.domain import Deal, Message, Outcome, Template

__all__ = [
    "CadenceStep",
    "StageInfo",
    "cadence_positions",
    "classify_stages",
    "map_emails",
    "map_opportunity",
    "map_template",
    "parse_time",
    "segment_for",
    "sentiment_of",
]

#: Employee-count bounds of the default segments (as the world and HubSpot connector use).
SEGMENT_BOUNDS = ((200, "smb"), (2000, "mid_market"))
EMAIL_STEP_TYPES = frozenset({"SendAnEmail", "AutoSendAnEmail"})


@dataclass(frozen=True)
class StageInfo:
    """What a stage means, from ``OpportunityStage`` metadata."""

    label: str
    is_closed: bool
    is_won: bool

    @property
    def outcome(self) -> Outcome:
        if not self.is_closed:
            return Outcome.OPEN
        return Outcome.WON if self.is_won else Outcome.LOST


def parse_time(value: Any) -> datetime | None:
    """A Salesforce datetime (``2026-11-01T10:00:00.000+0000``) or date as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    text = str(value)
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    parsed = datetime.fromisoformat(text)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def classify_stages(records: Iterable[Mapping[str, Any]]) -> dict[str, StageInfo]:
    """Stage API name (what ``Opportunity.StageName`` holds) → its metadata."""
    stages: dict[str, StageInfo] = {}
    for r in records:
        info = StageInfo(
            str(r.get("MasterLabel") or r.get("ApiName")), bool(r.get("IsClosed")), bool(r.get("IsWon"))
        )
        for key in (r.get("ApiName"), r.get("MasterLabel")):
            if key:
                stages.setdefault(str(key), info)
    return stages


def segment_for(employees: Any) -> str | None:
    """The default segment of an account from its employee count (None when unknown)."""
    if employees is None or isinstance(employees, bool):
        return None
    try:
        count = int(employees)
    except (TypeError, ValueError):
        return None
    for bound, name in SEGMENT_BOUNDS:
        if count < bound:
            return name
    return "enterprise"


def _children(record: Mapping[str, Any], relationship: str) -> list[dict[str, Any]]:
    value = record.get(relationship)
    if isinstance(value, Mapping):
        return list(value.get("records") or [])
    return []


def stage_lost(history: list[dict[str, Any]], stages: Mapping[str, StageInfo]) -> str | None:
    """The last open stage before the opportunity first entered a closed-lost stage."""
    rows = sorted(
        enumerate(history),
        key=lambda p: (parse_time(p[1].get("CreatedDate")) or datetime.min.replace(tzinfo=UTC), p[0]),
    )
    last_open: str | None = None
    for _, row in rows:
        name = str(row.get("StageName") or "")
        info = stages.get(name)
        if info is None:
            continue
        if info.is_closed:
            return last_open if not info.is_won else None
        last_open = info.label
    return None


def map_opportunity(
    record: Mapping[str, Any], stages: Mapping[str, StageInfo], loss_reason_field: str | None
) -> Deal | str:
    """A closed opportunity as a :class:`Deal`, or why it cannot be one."""
    stage_name = record.get("StageName")
    info = stages.get(str(stage_name)) if stage_name else None
    if info is None:
        return f"unknown stage {stage_name!r} (not in OpportunityStage)"
    if not info.is_closed:
        return "not closed"
    closed = parse_time(record.get("CloseDate"))
    if closed is None:
        return "closed without a CloseDate"
    account = record.get("Account") if isinstance(record.get("Account"), Mapping) else {}
    assert isinstance(account, Mapping)
    competitors = sorted(
        str(c["CompetitorName"])
        for c in _children(record, "OpportunityCompetitors")
        if c.get("CompetitorName")
    )
    amount = record.get("Amount")
    loss = record.get(loss_reason_field) if loss_reason_field else None
    return Deal(
        deal_id=str(record["Id"]),
        outcome=info.outcome,
        amount=float(amount) if isinstance(amount, int | float) and not isinstance(amount, bool) else None,
        currency=record.get("CurrencyIsoCode"),
        created_at=parse_time(record.get("CreatedDate")),
        closed_at=closed,
        segment=segment_for(account.get("NumberOfEmployees")),
        industry=account.get("Industry"),
        loss_reason=str(loss) if loss and info.outcome is Outcome.LOST else None,
        competitor=competitors[0] if competitors else None,
        stage_lost=stage_lost(_children(record, "OpportunityHistories"), stages)
        if info.outcome is Outcome.LOST
        else None,
        owner_id=record.get("OwnerId"),
        source=record.get("LeadSource"),
        crm_updated_at=parse_time(record.get("SystemModstamp")),
    )


def map_template(record: Mapping[str, Any]) -> Template:
    return Template(
        template_id=str(record["Id"]),
        name=record.get("Name"),
        subject=record.get("Subject"),
        body=record.get("Body"),
        extra={"modstamp": record.get("SystemModstamp")} if record.get("SystemModstamp") else {},
    )


@dataclass(frozen=True)
class CadenceStep:
    """An email step of a cadence: its template and 1-based position among the cadence's emails."""

    cadence_id: str | None
    template_id: str | None
    position: int | None


def cadence_positions(steps: Iterable[Mapping[str, Any]]) -> dict[str, CadenceStep]:
    """Step id → email step, with positions from the step graph (``ParentStepName`` links).

    There is no step number (reference §3.2): walk from each root along parents, counting only email
    steps (Wait, Branch, … are skipped). Orphaned/retired steps and cycles get no position.
    """
    by_cadence: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for s in steps:
        by_cadence[str(s.get("ActionCadenceId"))].append(s)
    result: dict[str, CadenceStep] = {}
    for cadence, members in by_cadence.items():
        by_name = {str(s.get("StepName")): s for s in members if s.get("StepName")}
        depth_cache: dict[str, int | None] = {}

        def email_depth(
            name: str,
            seen: frozenset[str],
            by_name: dict[str, Mapping[str, Any]] = by_name,
            cache: dict[str, int | None] = depth_cache,
        ) -> int | None:
            if name in cache:
                return cache[name]
            step = by_name.get(name)
            if step is None or name in seen or step.get("IsOrphan"):
                return None
            parent = step.get("ParentStepName")
            base = 0 if not parent else email_depth(str(parent), seen | {name})
            value = None if base is None else base + (1 if step.get("Type") in EMAIL_STEP_TYPES else 0)
            cache[name] = value
            return value

        for s in members:
            if s.get("Type") not in EMAIL_STEP_TYPES or not s.get("Id"):
                continue
            position = email_depth(str(s.get("StepName")), frozenset()) if s.get("StepName") else None
            template = s.get("TemplateId")
            result[str(s["Id"])[:15]] = CadenceStep(
                cadence if cadence != "None" else None, str(template) if template else None, position or None
            )
    return result


# -- replies ------------------------------------------------------------------------------------------
_POSITIVE = (
    "great",
    "sounds good",
    "interested",
    "let's",
    "happy to",
    "schedule",
    "book",
    "demo",
    "love",
    "perfect",
    "yes",
    "thanks",
    "call next week",
    "works for me",
)
_NEGATIVE = (
    "not interested",
    "no thanks",
    "unsubscribe",
    "too expensive",
    "budget",
    "not the right time",
    "not a priority",
    "don't need",
    "already use",
    "stop",
    "remove me",
    "busy",
    "not now",
    "discount",
    "check with my boss",
    "sign-off",
    "decision maker",
)


def sentiment_of(text: str | None) -> float | None:
    """A transparent lexicon score in [-1, 1]: (positive − negative phrase hits) / hits (0 when none)."""
    if not text:
        return None
    lowered = text.lower()
    pos = sum(lowered.count(p) for p in _POSITIVE)
    neg = sum(lowered.count(p) for p in _NEGATIVE)
    return 0.0 if pos + neg == 0 else round((pos - neg) / (pos + neg), 3)


def _objection_finder() -> Callable[[str | None], tuple[str, ...]]:
    """The engine's keyword taxonomy when installed (branch `insights`), else no objections."""
    try:
        module = importlib.import_module("feedbackloop.engine.objections")
    except ImportError:  # pragma: no cover - depends on what is merged
        return lambda _text: ()
    finder: Callable[[str | None], tuple[str, ...]] = module.find_objections
    return finder


find_objections = _objection_finder()


@dataclass(frozen=True)
class EmailContext:
    """What mapping an opportunity's emails needs to know beyond the emails themselves."""

    steps: Mapping[str, CadenceStep]
    has_reply_field: bool
    has_click_field: bool
    contact_of: Mapping[str, str | None]


def map_emails(
    emails: Iterable[Mapping[str, Any]], context: EmailContext
) -> tuple[list[Message], list[tuple[str, str]]]:
    """Outbound emails as messages (template, position, opens, clicks, replies with their derived
    sentiment and objections; the reply text is not kept), plus ``(email id, reason)`` for skipped ones."""
    outbound: list[Mapping[str, Any]] = []
    incoming_by_thread: dict[tuple[str, str], list[tuple[datetime, str | None]]] = defaultdict(list)
    skipped: list[tuple[str, str]] = []
    for e in emails:
        sent = parse_time(e.get("MessageDate"))
        if not e.get("RelatedToId"):
            skipped.append((str(e.get("Id")), "email without an opportunity"))
        elif sent is None:
            skipped.append((str(e.get("Id")), "email without a MessageDate"))
        elif e.get("Incoming"):
            if e.get("ThreadIdentifier"):
                key = (str(e["RelatedToId"]), str(e["ThreadIdentifier"]))
                incoming_by_thread[key].append((sent, e.get("TextBody")))
        else:
            outbound.append(e)
    outbound.sort(key=lambda e: (parse_time(e.get("MessageDate")), str(e.get("Id"))))
    # Each reply answers the latest outbound email sent before it in the same thread.
    reply_of: dict[str, list[str | None]] = defaultdict(list)
    thread_sends: dict[tuple[str, str], list[tuple[datetime, str]]] = defaultdict(list)
    for e in outbound:
        if e.get("ThreadIdentifier"):
            key = (str(e["RelatedToId"]), str(e["ThreadIdentifier"]))
            thread_sends[key].append((parse_time(e["MessageDate"]) or datetime.min, str(e["Id"])))
    for key, replies in incoming_by_thread.items():
        sends = thread_sends.get(key, [])
        for when, text in sorted(replies, key=lambda r: r[0]):
            before = [email_id for sent_at, email_id in sends if sent_at <= when]
            if before:
                reply_of[before[-1]].append(text)
    messages: list[Message] = []
    for e in outbound:
        email_id = str(e["Id"])
        tracker = (
            e.get("ActionCadenceStepTracker")
            if isinstance(e.get("ActionCadenceStepTracker"), Mapping)
            else None
        )
        step_id = tracker.get("ActionCadenceStepId") if tracker else None
        step = context.steps.get(str(step_id)[:15]) if step_id else None
        template = e.get("EmailTemplateId") or (step.template_id if step else None)
        texts = reply_of.get(email_id, [])
        replied = bool(e.get("HasReply")) if context.has_reply_field else bool(texts)
        first_text = next((t for t in texts if t), None)
        opp = str(e["RelatedToId"])
        messages.append(
            Message(
                message_id=email_id,
                deal_id=opp,
                sent_at=parse_time(e["MessageDate"]),  # type: ignore[arg-type]
                template_id=str(template) if template else None,
                sequence_id=step.cadence_id if step else None,
                position=step.position if step else None,
                contact_id=context.contact_of.get(opp),
                opened=bool(e.get("IsOpened")) if e.get("IsOpened") is not None else None,
                clicked=e.get("FirstLinkClickedDate") is not None if context.has_click_field else None,
                replied=replied,
                response_sentiment=sentiment_of(first_text) if first_text else None,
                objections=tuple(dict.fromkeys(o for t in texts if t for o in find_objections(t))),
            )
        )
    return messages, skipped
