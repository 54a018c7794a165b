"""HubSpot records → domain values: pure functions, no I/O (the CRM's field names stop here).

- Stage → outcome from pipeline **metadata** (``isClosed`` + ``probability``: 1.0 won, 0.0 lost), or the
  deal's calculated ``hs_is_closed_won`` / ``hs_is_closed_lost`` — never from stage labels.
- Segment from the company's employee count (configurable thresholds), else from the deal amount.
- Stage lost = the open stage the deal entered last before it closed lost (``hs_v2_date_entered_*``).
- Template step positions from the sequence definition (``steps[].emailPattern.templateId``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from feedbackloop.connectors.base import SkippedRecord
from feedbackloop.domain import Deal, Outcome

__all__ = [
    "DEAL_PROPERTIES",
    "SegmentRules",
    "StageInfo",
    "deal_from",
    "entered_property",
    "outcome_of",
    "parse_time",
    "stage_lost",
    "stages_from_pipelines",
    "step_positions",
    "to_float",
    "to_ms",
]

#: Deal properties every sync reads (stage history properties are added per stage).
DEAL_PROPERTIES = (
    "dealname",
    "amount",
    "deal_currency_code",
    "createdate",
    "closedate",
    "pipeline",
    "dealstage",
    "hs_is_closed",
    "hs_is_closed_won",
    "hs_is_closed_lost",
    "closed_lost_reason",
    "competitor",
    "hubspot_owner_id",
    "hs_analytics_source",
    "hs_lastmodifieddate",
)


@dataclass(frozen=True)
class StageInfo:
    """One pipeline stage: where it sits and what it means (``outcome`` None: closed but ambiguous)."""

    stage_id: str
    pipeline_id: str
    label: str
    display_order: int
    outcome: Outcome | None


@dataclass(frozen=True)
class SegmentRules:
    """``smb`` below ``smb_employees``, ``mid_market`` below ``mid_employees``, else ``enterprise``;
    without an employee count the same by amount."""

    smb_employees: int = 200
    mid_employees: int = 2000
    smb_amount: float = 15_000.0
    mid_amount: float = 60_000.0

    @classmethod
    def from_settings(cls, raw: Mapping[str, Any] | None) -> SegmentRules:
        raw = raw or {}
        base = cls()
        return cls(
            smb_employees=int(raw.get("smb_employees", base.smb_employees)),
            mid_employees=int(raw.get("mid_employees", base.mid_employees)),
            smb_amount=float(raw.get("smb_amount", base.smb_amount)),
            mid_amount=float(raw.get("mid_amount", base.mid_amount)),
        )

    def segment(self, employees: float | None, amount: float | None) -> str | None:
        if employees is not None and employees > 0:
            if employees < self.smb_employees:
                return "smb"
            return "mid_market" if employees < self.mid_employees else "enterprise"
        if amount is not None and amount > 0:
            if amount < self.smb_amount:
                return "smb"
            return "mid_market" if amount < self.mid_amount else "enterprise"
        return None


def parse_time(value: Any) -> datetime | None:
    """A HubSpot time (ISO-8601 string or ms-epoch string/number) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_ms(value: Any) -> int | None:
    when = parse_time(value)
    return None if when is None else round(when.timestamp() * 1000)


def to_float(value: Any) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _truthy(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    return str(value).strip().lower() == "true"


def stages_from_pipelines(pipelines: Iterable[Mapping[str, Any]]) -> dict[str, StageInfo]:
    """Stage id → :class:`StageInfo` for every pipeline, classified by metadata only."""
    out: dict[str, StageInfo] = {}
    for pipeline in pipelines:
        for stage in pipeline.get("stages") or []:
            meta = stage.get("metadata") or {}
            closed = _truthy(meta.get("isClosed") if isinstance(meta, Mapping) else None)
            probability = to_float(meta.get("probability") if isinstance(meta, Mapping) else None)
            outcome: Outcome | None
            if not closed:
                outcome = Outcome.OPEN
            elif probability == 1.0:
                outcome = Outcome.WON
            elif probability == 0.0:
                outcome = Outcome.LOST
            else:
                outcome = None
            out[str(stage["id"])] = StageInfo(
                str(stage["id"]),
                str(pipeline.get("id")),
                str(stage.get("label") or stage["id"]),
                int(stage.get("displayOrder") or 0),
                outcome,
            )
    return out


def outcome_of(props: Mapping[str, Any], stages: Mapping[str, StageInfo]) -> Outcome | None:
    """Won, lost or open from stage metadata, else from the calculated won/lost flags; None if unknown."""
    stage = stages.get(str(props.get("dealstage") or ""))
    if stage is not None and stage.outcome is not None:
        return stage.outcome
    if _truthy(props.get("hs_is_closed_won")):
        return Outcome.WON
    if _truthy(props.get("hs_is_closed_lost")):
        return Outcome.LOST
    if _truthy(props.get("hs_is_closed")) is False:
        return Outcome.OPEN
    return None


def entered_property(stage_id: str) -> str:
    return f"hs_v2_date_entered_{stage_id}"


def stage_lost(props: Mapping[str, Any], stages: Mapping[str, StageInfo]) -> str | None:
    """Label of the last open stage a lost deal entered (latest entry time, then display order)."""
    best: tuple[int, int, str] | None = None
    for info in stages.values():
        if info.outcome is not Outcome.OPEN:
            continue
        at = to_ms(props.get(entered_property(info.stage_id)))
        if at is not None and (best is None or (at, info.display_order) > best[:2]):
            best = (at, info.display_order, info.label)
    return best[2] if best else None


def deal_from(
    deal_id: str,
    props: Mapping[str, Any],
    stages: Mapping[str, StageInfo],
    *,
    company: Mapping[str, Any] | None,
    rules: SegmentRules,
    sequence_id: str | None = None,
) -> Deal | SkippedRecord:
    """A closed deal as a :class:`Deal`, or why it cannot be used."""
    outcome = outcome_of(props, stages)
    if outcome is None:
        return SkippedRecord("deal", deal_id, f"stage {props.get('dealstage')!r} has no won/lost metadata")
    if outcome not in (Outcome.WON, Outcome.LOST):
        return SkippedRecord("deal", deal_id, "deal is not closed won or lost")
    closed_at = parse_time(props.get("closedate"))
    if closed_at is None:
        return SkippedRecord("deal", deal_id, "closed deal without a valid closedate")
    amount = to_float(props.get("amount"))
    if amount is not None and amount < 0:
        return SkippedRecord("deal", deal_id, f"negative amount {amount}")
    company = company or {}
    employees = to_float(company.get("numberofemployees"))
    lost = outcome is Outcome.LOST
    return Deal(
        deal_id=deal_id,
        outcome=outcome,
        amount=amount,
        currency=props.get("deal_currency_code") or None,
        created_at=parse_time(props.get("createdate")),
        closed_at=closed_at,
        segment=rules.segment(employees, amount),
        industry=company.get("industry") or None,
        loss_reason=(props.get("closed_lost_reason") or None) if lost else None,
        competitor=props.get("competitor") or None,
        stage_lost=stage_lost(props, stages) if lost else None,
        sequence_id=sequence_id,
        owner_id=props.get("hubspot_owner_id") or None,
        source=(str(props["hs_analytics_source"])[:20] if props.get("hs_analytics_source") else None),
        crm_updated_at=parse_time(props.get("hs_lastmodifieddate")),
    )


def step_positions(sequence: Mapping[str, Any]) -> dict[str, list[int]]:
    """Template id → its 1-based step positions in one sequence definition (``stepOrder`` + 1)."""
    out: dict[str, list[int]] = {}
    for step in sequence.get("steps") or []:
        pattern = step.get("emailPattern") or {}
        template = pattern.get("templateId") if isinstance(pattern, Mapping) else None
        order = step.get("stepOrder")
        if template in (None, "") or order is None:
            continue
        out.setdefault(str(template), []).append(int(order) + 1)
    return {k: sorted(v) for k, v in out.items()}
