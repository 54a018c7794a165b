"""The domain model: what a deal, a message and a template are, independent of any CRM.

Frozen dataclasses and string enums, so every value is hashable, comparable and JSON-serialisable
through :func:`to_jsonable`. CRM field names never appear here; connectors translate at the boundary.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

__all__ = [
    "CLOSED_OUTCOMES",
    "DEFAULT_SEGMENTS",
    "Deal",
    "DecisionAction",
    "Message",
    "Outcome",
    "Template",
    "TemplateStatus",
    "to_jsonable",
]


class Outcome(enum.StrEnum):
    """Where a deal ended (or stands). Learning uses won vs lost by default."""

    WON = "won"
    LOST = "lost"
    DISQUALIFIED = "disqualified"
    STALLED = "stalled"
    MEETING = "meeting"
    OPEN = "open"


#: Outcomes that close a deal, and so require a close date.
CLOSED_OUTCOMES = frozenset({Outcome.WON, Outcome.LOST, Outcome.DISQUALIFIED})

#: Segments used when a tenant configures no rules of its own.
DEFAULT_SEGMENTS = ("smb", "mid_market", "enterprise")


class TemplateStatus(enum.StrEnum):
    """Lifecycle of a template as the engine and humans decide it."""

    ACTIVE = "active"
    TESTING = "testing"
    PROMOTED = "promoted"
    DEPRECATED = "deprecated"
    REVIEW = "review"


class DecisionAction(enum.StrEnum):
    """What the engine recommends for a template after a run."""

    PROMOTE = "promote"
    DEPRECATE = "deprecate"
    REVIEW = "review"
    KEEP = "keep"


@dataclass(frozen=True, slots=True)
class Deal:
    """A deal (HubSpot) or opportunity (Salesforce) and how it ended."""

    deal_id: str
    outcome: Outcome
    amount: float | None = None
    currency: str | None = None
    created_at: datetime | None = None
    closed_at: datetime | None = None
    segment: str | None = None
    industry: str | None = None
    loss_reason: str | None = None
    competitor: str | None = None
    stage_lost: str | None = None
    sequence_id: str | None = None
    owner_id: str | None = None
    source: str | None = None
    crm_updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One outreach touch (usually an email) sent on a deal; bodies are not kept, only derived features."""

    message_id: str
    deal_id: str
    sent_at: datetime
    template_id: str | None = None
    sequence_id: str | None = None
    position: int | None = None
    channel: str = "email"
    direction: str = "outbound"
    contact_id: str | None = None
    opened: bool | None = None
    clicked: bool | None = None
    replied: bool | None = None
    response_sentiment: float | None = None
    objections: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Template:
    """An outreach email template and its lifecycle status."""

    template_id: str
    name: str | None = None
    subject: str | None = None
    body: str | None = None
    status: TemplateStatus = TemplateStatus.ACTIVE
    pinned: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


def to_jsonable(value: Any) -> Any:
    """Turn domain values (dataclasses, enums, datetimes, numpy scalars) into plain JSON types."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):  # NaN and inf are not JSON
        return None
    return value
