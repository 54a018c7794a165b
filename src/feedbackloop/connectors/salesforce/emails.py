"""EmailMessages to messages: template and position from the cadence step graph, opens, clicks, and
replies (with a sentiment score and objection categories derived from their text, which is not kept).

Replies are detected per email from ``HasReply`` where the org has it, else as an incoming email in the
same thread after the send (``ReplyToEmailMessageId`` and ``Status`` are case-only, reference §2.3).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedbackloop.connectors.salesforce.mapping import parse_time
from feedbackloop.domain import Message
from feedbackloop.engine.objections import find_objections

__all__ = [
    "CadenceStep",
    "EmailContext",
    "cadence_positions",
    "find_objections",
    "map_emails",
    "sentiment_of",
]

EMAIL_STEP_TYPES = frozenset({"SendAnEmail", "AutoSendAnEmail"})


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

#: Meeting intent and interest: what a positive sales reply says. Courtesy ("thanks") carries no weight.
_POSITIVE = re.compile(
    r"\b(?:sounds (?:great|good)|let'?s (?:talk|chat|meet|book|schedule|do it)|happy to (?:chat|talk|meet)|"
    r"book (?:a|some) (?:call|time|meeting)|schedule (?:a|the) (?:call|demo|meeting)|send (?:me )?(?:a|the) "
    r"(?:meeting )?invite|(?:does|would) \w+day work|interested|love to|works for (?:me|us)|yes)\b",
    re.IGNORECASE,
)
#: Refusals and objections in plain sales vocabulary (the engine's taxonomy adds its categories).
_NEGATIVE = re.compile(
    r"\b(?:not interested|no thanks|unsubscribe|remove me|stop (?:emailing|contacting)|too expensive|"
    r"budget|pricing|discount|not the right time|next quarter|too busy|circle back|already use|"
    r"current vendor|evaluating|check with|sign-off|decision maker|don'?t (?:really )?need|not a priority|"
    r"spreadsheets)\b",
    re.IGNORECASE,
)


def sentiment_of(text: str | None) -> float | None:
    """A transparent score in [-1, 1]: (positive − negative cues) / cues, 0 for a reply with neither.

    Positive cues are meeting intent and interest; negative cues are refusals and objections (phrases
    above, plus one per objection category the engine's taxonomy finds)."""
    if not text:
        return None
    positive = len(_POSITIVE.findall(text))
    negative = len(_NEGATIVE.findall(text)) + len(find_objections(text))
    cues = positive + negative
    return 0.0 if cues == 0 else round((positive - negative) / cues, 3)


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
