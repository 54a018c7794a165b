"""Salesforce records to domain values: stages, opportunities and templates (emails: ``emails.py``).

Pure functions over the JSON records the REST API returns (field names as in the object reference).
Outcomes come from ``OpportunityStage.IsClosed/IsWon``, never from stage labels; a record that cannot be
used is returned as a reason string so that the sync reports it and goes on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from feedbackloop.domain import Deal, Outcome, Template

__all__ = [
    "StageInfo",
    "classify_stages",
    "map_opportunity",
    "map_template",
    "parse_time",
    "segment_for",
    "stage_lost",
]

#: Employee-count bounds of the default segments (as the world and HubSpot connector use).
SEGMENT_BOUNDS = ((200, "smb"), (2000, "mid_market"))


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


def _clip(value: Any, length: int) -> str | None:
    """A picklist or text value cut to the store's column width (orgs define long picklist values)."""
    return str(value)[:length] if value not in (None, "") else None


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
        last_open = info.label[:128]
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
        currency=_clip(record.get("CurrencyIsoCode"), 8),
        created_at=parse_time(record.get("CreatedDate")),
        closed_at=closed,
        segment=segment_for(account.get("NumberOfEmployees")),
        industry=_clip(account.get("Industry"), 128),
        loss_reason=_clip(loss, 255) if info.outcome is Outcome.LOST else None,
        competitor=_clip(competitors[0] if competitors else None, 128),
        stage_lost=stage_lost(_children(record, "OpportunityHistories"), stages)
        if info.outcome is Outcome.LOST
        else None,
        owner_id=record.get("OwnerId"),
        source=_clip(record.get("LeadSource"), 20),
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
