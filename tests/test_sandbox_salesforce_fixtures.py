"""A tiny hand-made world with the interface of ``sandbox.world.World`` (frames, advance, reset, truth),
small enough that every expected SOQL answer can be written down by hand; shared by the Salesforce
sandbox tests. (No tests here; the module name only keeps it with the files it serves.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from feedbackloop.sandbox.salesforce.objects import sid

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def t(day: str, hour: int = 9) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def sf_id(object_name: str, world_id: str) -> str:
    """The Salesforce id the sandbox gives a world record."""
    value = sid(object_name, world_id)
    assert value is not None
    return value


@dataclass
class Step:
    start: datetime
    end: datetime
    closed_deal_ids: list[str]
    new_deal_ids: list[str] = field(default_factory=list)
    changed_deal_ids: list[str] = field(default_factory=list)


DEALS = [
    # deal_id, name, company, contact, owner, stage, amount, created, closed, outcome, loss_reason, competitor
    ("d1", "Acme renewal", "c1", "p1", "o1", "won", 12000.0, "2026-01-05", "2026-02-10", "won", None, None),
    (
        "d2",
        "Globex pilot",
        "c2",
        "p2",
        "o1",
        "lost",
        5000.0,
        "2026-01-10",
        "2026-02-20",
        "lost",
        "Price",
        "Initech",
    ),
    ("d3", "Initrode expansion", "c3", "p3", "o2", "nego", 80000.0, "2026-02-01", None, "open", None, None),
    ("d4", "acme add-on", "c1", "p1", "o2", "pros", None, "2026-02-25", None, "open", None, None),
    (
        "d5",
        "Globex_100% deal",
        "c2",
        "p2",
        "o2",
        "lost",
        2500.5,
        "2025-12-01",
        "2026-01-15",
        "lost",
        "Timing",
        None,
    ),
]


class TinyWorld:
    """Five deals, three companies, two sequences' worth of emails (plus ``filler`` extra emails on d3)."""

    def __init__(self, filler: int = 0) -> None:
        self.filler = filler
        self.reset()

    def reset(self) -> None:
        self.now = NOW
        self.closed_late = False

    def advance(self, days: float) -> Step:
        start = self.now
        self.now = self.now + timedelta(days=days)
        closed = [] if self.closed_late else ["d3"]
        self.closed_late = True
        return Step(start, self.now, closed, [], closed)

    def truth_summary(self) -> dict[str, Any]:
        return {
            "deals": {"won": 1, "lost": 2, "open": 2},
            "emails": 4,
            "templates": {
                "t1": {"effect": 0.4, "declining": False},
                "t2": {"effect": -0.2, "declining": True},
            },
        }

    def owners_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [("o1", 1, "Ada", "Owner", "ada@seller.test"), ("o2", 2, "Bo", "Seller", "bo@seller.test")],
            columns=["owner_id", "user_id", "first_name", "last_name", "email"],
        )

    def companies_frame(self) -> pd.DataFrame:
        rows = [
            ("c1", "Acme", "acme.test", "Banking", 40, "smb", t("2025-06-01")),
            ("c2", "Globex", "globex.test", "Retail", 450, "mid_market", t("2025-06-02")),
            ("c3", "Initrode", "initrode.test", None, 5200, "enterprise", t("2025-06-03")),
        ]
        return pd.DataFrame(
            rows, columns=["company_id", "name", "domain", "industry", "employees", "segment", "created_at"]
        )

    def contacts_frame(self) -> pd.DataFrame:
        rows = [
            (f"p{i}", f"c{i}", f"First{i}", f"Last{i}", f"p{i}@buyer.test", t("2025-07-01"))
            for i in (1, 2, 3)
        ]
        return pd.DataFrame(
            rows, columns=["contact_id", "company_id", "first_name", "last_name", "email", "created_at"]
        )

    def stages_frame(self) -> pd.DataFrame:
        rows = [
            ("pros", "Prospecting", 1, 0.1, False, False),
            ("nego", "Negotiation", 2, 0.6, False, False),
            ("won", "Signed", 3, 1.0, True, True),
            ("lost", "No decision", 4, 0.0, True, False),
        ]
        return pd.DataFrame(
            rows, columns=["stage_id", "label", "display_order", "probability", "is_closed", "is_won"]
        )

    def _deal_rows(self) -> list[dict[str, Any]]:
        rows = []
        for d in DEALS:
            deal_id, name, company, contact, owner, stage, amount, created, closed, outcome, reason, rival = d
            if deal_id == "d3" and self.closed_late:
                stage, closed, outcome = "won", "2026-03-02", "won"
            closed_at = t(closed, 15) if closed else None
            rows.append(
                {
                    "deal_id": deal_id,
                    "name": name,
                    "company_id": company,
                    "contact_id": contact,
                    "owner_id": owner,
                    "sequence_id": "s1",
                    "segment": "smb",
                    "industry": None,
                    "amount": amount,
                    "currency": "USD",
                    "created_at": t(created),
                    "closed_at": closed_at,
                    "outcome": outcome,
                    "stage_id": stage,
                    "loss_reason": reason,
                    "competitor": rival,
                    "stage_lost": None,
                    "updated_at": closed_at or t(created, 10),
                    "source": "outbound",
                }
            )
        return rows

    def deals_frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self._deal_rows())
        for column in ("created_at", "closed_at", "updated_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def stage_history_frame(self) -> pd.DataFrame:
        rows = []
        for d in self._deal_rows():
            rows.append((d["deal_id"], "pros", d["created_at"]))
            if d["stage_id"] != "pros":
                rows.append(
                    (d["deal_id"], d["stage_id"], d["closed_at"] or d["created_at"] + timedelta(days=3))
                )
        return pd.DataFrame(rows, columns=["deal_id", "stage_id", "entered_at"])

    def sequences_frame(self) -> pd.DataFrame:
        rows = [("s1", "Cold outreach", 1, "t1", 0.0), ("s1", "Cold outreach", 2, "t2", 3.0)]
        return pd.DataFrame(rows, columns=["sequence_id", "name", "position", "template_id", "delay_days"])

    def templates_frame(self) -> pd.DataFrame:
        rows = [
            (f"t{i}", f"Template {i}", f"Subject {i}", f"Body {i}", t("2025-01-01"), "active", False)
            for i in (1, 2, 3)
        ]
        return pd.DataFrame(
            rows, columns=["template_id", "name", "subject", "body", "created_at", "status", "pinned"]
        )

    def messages_frame(self) -> pd.DataFrame:
        base = [
            ("m1", "d1", "p1", "o1", "t1", "s1", 1, t("2026-01-06"), True, False, True),
            ("m2", "d1", "p1", "o1", "t2", "s1", 2, t("2026-01-09"), True, True, False),
            ("m3", "d2", "p2", "o1", "t1", "s1", 1, t("2026-01-11"), False, False, False),
            ("m4", "d2", "p2", "o1", None, None, None, t("2026-01-20"), True, False, False),
        ]
        base += [
            (
                f"f{i}",
                "d3",
                "p3",
                "o2",
                "t3",
                None,
                None,
                t("2026-02-02") + timedelta(minutes=i),
                False,
                False,
                False,
            )
            for i in range(self.filler)
        ]
        rows = []
        for mid, deal, contact, owner, tpl, seq, pos, sent, opened, clicked, replied in base:
            rows.append(
                {
                    "message_id": mid,
                    "deal_id": deal,
                    "contact_id": contact,
                    "owner_id": owner,
                    "template_id": tpl,
                    "sequence_id": seq,
                    "position": pos,
                    "channel": "email",
                    "direction": "outbound",
                    "sent_at": sent,
                    "subject": f"Hello {mid}",
                    "thread_id": f"th-{deal}",
                    "opened": opened,
                    "clicked": clicked,
                    "replied": replied,
                    "open_count": int(opened) * 2,
                    "click_count": int(clicked),
                    "response_sentiment": None,
                    "objections": None,
                    "updated_at": sent,
                }
            )
        return pd.DataFrame(rows)

    def replies_frame(self) -> pd.DataFrame:
        rows = [
            ("r1", "d1", "p1", "m1", "th-d1", t("2026-01-07"), "Re: Hello m1", "Sounds good, price ok", 0.8)
        ]
        return pd.DataFrame(
            rows,
            columns=[
                "message_id",
                "deal_id",
                "contact_id",
                "in_reply_to",
                "thread_id",
                "sent_at",
                "subject",
                "text",
                "sentiment",
            ],
        )
