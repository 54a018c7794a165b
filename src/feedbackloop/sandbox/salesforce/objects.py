"""Mapping the synthetic world's frames onto Salesforce records (plain dicts keyed by API field name).

Deliberately realistic gaps: ``EmailMessage.EmailTemplateId`` is filled for only a fraction of the emails
(the template is otherwise known only through the cadence step), replies are ``Incoming=true`` emails in
the same thread, cadence steps form a graph (``StepName``/``ParentStepName``, with Wait steps between
emails) rather than carrying a step number, and stage outcomes live only in ``OpportunityStage``.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Protocol

import pandas as pd

from feedbackloop.sandbox.salesforce.ids import KEY_PREFIXES, derived_id

__all__ = ["WorldFrames", "build_world_tables", "sid"]

Record = dict[str, Any]


class WorldFrames(Protocol):
    """The part of ``sandbox.world.World`` the Salesforce mapping reads."""

    @property
    def now(self) -> datetime: ...

    def companies_frame(self) -> pd.DataFrame: ...
    def contacts_frame(self) -> pd.DataFrame: ...
    def owners_frame(self) -> pd.DataFrame: ...
    def stages_frame(self) -> pd.DataFrame: ...
    def stage_history_frame(self) -> pd.DataFrame: ...
    def sequences_frame(self) -> pd.DataFrame: ...
    def templates_frame(self) -> pd.DataFrame: ...
    def deals_frame(self) -> pd.DataFrame: ...
    def messages_frame(self) -> pd.DataFrame: ...
    def replies_frame(self) -> pd.DataFrame: ...


@functools.lru_cache(maxsize=1 << 21)
def sid(object_name: str, world_id: Any) -> str | None:
    """The Salesforce id of a world record (None for a missing world id)."""
    if world_id is None:
        return None
    return derived_id(KEY_PREFIXES[object_name], str(world_id))


def _rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values (NaN/NaT/NA become None), column by column for speed."""
    names = [str(c) for c in frame.columns]
    columns = []
    for name in frame.columns:
        series = frame[name]
        missing = series.isna().to_numpy()
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            values = pd.DatetimeIndex(series).to_pydatetime().tolist()
        else:
            values = series.to_numpy(dtype=object).tolist()
        if missing.any():
            values = [None if gap else v for v, gap in zip(values, missing, strict=True)]
        columns.append(values)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]


def _fraction(key: str) -> float:
    """A deterministic number in [0, 1) per key, for 'some records have X' decisions."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") / 2**32


def _audit(created: datetime | None, modified: datetime | None = None) -> Record:
    modified = modified or created
    return {
        "IsDeleted": False,
        "CreatedDate": created,
        "LastModifiedDate": modified,
        "SystemModstamp": modified,
    }


def _sales(world: WorldFrames, loss_reason_field: str | None) -> dict[str, list[Record]]:
    out: dict[str, list[Record]] = defaultdict(list)
    start = world.now - timedelta(days=3650)
    for o in _rows(world.owners_frame()):
        name = f"{o['first_name']} {o['last_name']}"
        out["User"].append(
            {
                "Id": sid("User", o["owner_id"]),
                **_audit(start),
                "Username": o["email"],
                "FirstName": o["first_name"],
                "LastName": o["last_name"],
                "Name": name,
                "Email": o["email"],
                "IsActive": True,
            }
        )
    for c in _rows(world.companies_frame()):
        out["Account"].append(
            {
                "Id": sid("Account", c["company_id"]),
                **_audit(c["created_at"]),
                "Name": c["name"],
                "Website": c["domain"],
                "Industry": c["industry"],
                "NumberOfEmployees": c["employees"],
                "AnnualRevenue": None,
                "OwnerId": None,
            }
        )
    for c in _rows(world.contacts_frame()):
        out["Contact"].append(
            {
                "Id": sid("Contact", c["contact_id"]),
                **_audit(c["created_at"]),
                "AccountId": sid("Account", c["company_id"]),
                "FirstName": c["first_name"],
                "LastName": c["last_name"],
                "Name": f"{c['first_name']} {c['last_name']}",
                "Email": c["email"],
                "OwnerId": None,
            }
        )
    stages = {s["stage_id"]: s for s in _rows(world.stages_frame())}
    for s in stages.values():
        category = "Closed" if s["is_won"] else "Omitted" if s["is_closed"] else "Pipeline"
        out["OpportunityStage"].append(
            {
                "Id": sid("OpportunityStage", s["stage_id"]),
                **_audit(start),
                "ApiName": s["label"],
                "MasterLabel": s["label"],
                "IsActive": True,
                "IsClosed": s["is_closed"],
                "IsWon": s["is_won"],
                "DefaultProbability": round(100 * s["probability"]),
                "ForecastCategory": category,
                "ForecastCategoryName": category,
                "Description": None,
                "SortOrder": s["display_order"],
            }
        )
    history = _rows(world.stage_history_frame())
    last_change: dict[str, datetime] = {}
    for h in history:
        last_change[h["deal_id"]] = max(h["entered_at"], last_change.get(h["deal_id"], h["entered_at"]))
    deals = {d["deal_id"]: d for d in _rows(world.deals_frame())}
    for d in deals.values():
        stage = stages[d["stage_id"]]
        category = "Closed" if stage["is_won"] else "Omitted" if stage["is_closed"] else "Pipeline"
        closed = d["closed_at"]
        close_date = (closed or d["created_at"] + timedelta(days=90)).date()
        record = {
            "Id": sid("Opportunity", d["deal_id"]),
            **_audit(d["created_at"], d["updated_at"]),
            "Name": d["name"],
            "AccountId": sid("Account", d["company_id"]),
            "ContactId": sid("Contact", d["contact_id"]),
            "OwnerId": sid("User", d["owner_id"]),
            "StageName": stage["label"],
            "IsClosed": stage["is_closed"],
            "IsWon": stage["is_won"],
            "Amount": d["amount"],
            "CloseDate": close_date,
            "Probability": round(100 * stage["probability"]),
            "ForecastCategory": category,
            "ForecastCategoryName": category,
            "Type": "New Business",
            "LeadSource": d["source"],
            "Description": None,
            "LastStageChangeDate": last_change.get(d["deal_id"]),
        }
        if loss_reason_field:
            record[loss_reason_field] = d["loss_reason"]
        out["Opportunity"].append(record)
        if d["competitor"]:
            out["OpportunityCompetitor"].append(
                {
                    "Id": sid("OpportunityCompetitor", d["deal_id"]),
                    **_audit(closed or d["updated_at"]),
                    "OpportunityId": record["Id"],
                    "CompetitorName": d["competitor"],
                    "Strengths": None,
                    "Weaknesses": None,
                }
            )
        if d["contact_id"] is not None:
            out["OpportunityContactRole"].append(
                {
                    "Id": sid("OpportunityContactRole", d["deal_id"]),
                    **_audit(d["created_at"]),
                    "OpportunityId": record["Id"],
                    "ContactId": sid("Contact", d["contact_id"]),
                    "Role": "Decision Maker",
                    "IsPrimary": True,
                }
            )
    for h in history:
        deal, stage = deals.get(h["deal_id"]), stages[h["stage_id"]]
        if deal is None:
            continue
        out["OpportunityHistory"].append(
            {
                "Id": sid("OpportunityHistory", f"{h['deal_id']}:{h['stage_id']}"),
                **_audit(h["entered_at"]),
                "OpportunityId": sid("Opportunity", h["deal_id"]),
                "StageName": stage["label"],
                "Amount": deal["amount"],
                "CloseDate": (deal["closed_at"] or deal["created_at"] + timedelta(days=90)).date(),
                "Probability": round(100 * stage["probability"]),
                "ExpectedRevenue": None,
                "ForecastCategory": "Closed"
                if stage["is_won"]
                else "Omitted"
                if stage["is_closed"]
                else "Pipeline",
                "PrevAmount": None,
                "PrevCloseDate": None,
            }
        )
    return out


def build_world_tables(
    world: WorldFrames, *, loss_reason_field: str | None = "Loss_Reason__c", template_id_rate: float = 0.3
) -> dict[str, list[Record]]:
    """All emulated objects' records as of ``world.now`` (call with the world lock held)."""
    from feedbackloop.sandbox.salesforce.engagement import engagement_tables

    tables = _sales(world, loss_reason_field)
    tables.update(engagement_tables(world, template_id_rate))
    return dict(tables)


def developer_name(name: str) -> str:
    """A template name as a Salesforce DeveloperName (letters, digits and single underscores)."""
    cleaned = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_") or "Template"
    return ("T_" + cleaned if cleaned[0].isdigit() else cleaned)[:80]
