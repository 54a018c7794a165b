"""The simulated sales world with known truth, as the sandbox CRMs, the engine tests and the demo see it.

A :class:`World` holds a whole simulated timeline (see :mod:`feedbackloop.sandbox.worldgen`) and a
present, ``now``. Every frame shows only what exists by ``now``: deals not yet closed are ``open`` in
their current stage, emails not yet sent don't exist. :meth:`World.advance` moves ``now`` forward and
says which deals closed, appeared or changed, so a sandbox can send webhooks for them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feedbackloop.errors import UsageError
from feedbackloop.sandbox.worldgen import STAGES, Timeline, Truth, WorldConfig, generate_timeline

__all__ = ["Advance", "Truth", "World", "WorldConfig", "generate_world"]


@dataclass(frozen=True)
class Advance:
    """What happened while time moved from ``start`` to ``end``."""

    start: datetime
    end: datetime
    closed_deal_ids: list[str] = field(default_factory=list)
    new_deal_ids: list[str] = field(default_factory=list)
    changed_deal_ids: list[str] = field(default_factory=list)


def generate_world(config: WorldConfig | None = None) -> World:
    """Simulate a world (deterministic by ``config.seed``)."""
    return World(config or WorldConfig())


class World:
    """A simulated sales org: companies, contacts, owners, templates, sequences, deals, emails, replies."""

    def __init__(self, config: WorldConfig) -> None:
        self.config = config
        self._t: Timeline = generate_timeline(config)
        self.now: datetime = config.now

    @property
    def truth(self) -> Truth:
        return self._t.truth

    @property
    def horizon(self) -> datetime:
        """The end of the simulated future; ``now`` cannot move past it."""
        return self._t.horizon

    # -- time -----------------------------------------------------------------------------------------
    def advance(self, days: float) -> Advance:
        """Move ``now`` forward by ``days`` and report what closed, appeared and changed meanwhile."""
        if days <= 0:
            raise UsageError("days must be positive")
        start, end = self.now, self.now + timedelta(days=days)
        if end > self.horizon:
            raise UsageError(
                f"the simulated world ends at {self.horizon:%Y-%m-%d}; generate it with a larger future_days"
            )
        d = self._t.deals
        lo, hi = pd.Timestamp(start), pd.Timestamp(end)
        closed = d.loc[(d["closed_at"] > lo) & (d["closed_at"] <= hi), "deal_id"]
        new = d.loc[(d["created_at"] > lo) & (d["created_at"] <= hi), "deal_id"]
        h = self._t.history
        staged = h.loc[(h["entered_at"] > lo) & (h["entered_at"] <= hi), "deal_id"]
        self.now = end
        changed = pd.unique(pd.concat([closed, new, staged]))
        return Advance(start, end, closed.tolist(), new.tolist(), sorted(map(str, changed)))

    def reset(self) -> None:
        """Back to the initial present."""
        self.now = self.config.now

    # -- frames ---------------------------------------------------------------------------------------
    def _cut(self) -> pd.Timestamp:
        return pd.Timestamp(self.now)

    def companies_frame(self) -> pd.DataFrame:
        return self._t.companies.copy()

    def contacts_frame(self) -> pd.DataFrame:
        c = self._t.contacts
        return c.loc[c["created_at"] <= self._cut()].reset_index(drop=True)

    def owners_frame(self) -> pd.DataFrame:
        return self._t.owners.copy()

    def stages_frame(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "stage_id": s,
                    "label": label,
                    "display_order": i,
                    "probability": p,
                    "is_closed": c,
                    "is_won": w,
                }
                for i, (s, label, p, c, w) in enumerate(STAGES)
            ]
        )

    def templates_frame(self) -> pd.DataFrame:
        return self._t.templates.drop(columns=["position"]).copy()

    def sequences_frame(self) -> pd.DataFrame:
        return self._t.sequences.copy()

    def stage_history_frame(self) -> pd.DataFrame:
        h = self._t.history
        return h.loc[h["entered_at"] <= self._cut()].reset_index(drop=True)

    def deals_frame(self) -> pd.DataFrame:
        """Deals created by ``now``; those not closed by then are ``open`` in their current stage."""
        cut = self._cut()
        d = self._t.deals
        d = d.loc[d["created_at"] <= cut].copy()
        history = self.stage_history_frame()
        current = history.drop_duplicates("deal_id", keep="last").set_index("deal_id")
        d["stage_id"] = d["deal_id"].map(current["stage_id"])
        d["updated_at"] = d["deal_id"].map(current["entered_at"]).fillna(d["created_at"])
        is_open = d["closed_at"] > cut
        d.loc[is_open, "outcome"] = "open"
        d.loc[is_open, "closed_at"] = pd.NaT
        for column in ("loss_reason", "competitor", "stage_lost"):
            d.loc[is_open, column] = None
        return d.reset_index(drop=True)

    def messages_frame(self) -> pd.DataFrame:
        """Outbound emails sent by ``now`` (engagement as finally observed)."""
        m = self._t.messages
        return m.loc[m["sent_at"] <= self._cut()].reset_index(drop=True)

    def replies_frame(self) -> pd.DataFrame:
        r = self._t.replies
        return r.loc[r["sent_at"] <= self._cut()].reset_index(drop=True)

    # -- truth and export -------------------------------------------------------------------------------
    def truth_summary(self) -> dict[str, Any]:
        """The sandbox's `/_sandbox/truth` body: counts by ``now`` and every template's true effect."""
        deals = self.deals_frame()
        counts = deals["outcome"].value_counts()
        closed_ids = deals.loc[deals["outcome"].isin(["won", "lost"]), "deal_id"]
        emails = int(self.messages_frame()["deal_id"].isin(closed_ids).sum())
        t = self.truth
        return {
            "now": self.now.isoformat(),
            "deals": {k: int(counts.get(k, 0)) for k in ("won", "lost", "open")},
            "emails": emails,
            "templates": {
                tid: {"effect": round(t.effects[tid], 6), "declining": t.declining[tid]} for tid in t.effects
            },
        }

    def to_csv(self, directory: str | Path) -> dict[str, Path]:
        """Write deals.csv, messages.csv and templates.csv in the public CSV import format."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        deals = self.deals_frame()[
            [
                "deal_id",
                "outcome",
                "amount",
                "currency",
                "created_at",
                "closed_at",
                "segment",
                "industry",
                "loss_reason",
                "competitor",
                "stage_lost",
                "sequence_id",
                "owner_id",
            ]
        ]
        m = self.messages_frame()
        messages = m[
            ["message_id", "deal_id", "template_id", "sequence_id", "position", "channel", "sent_at"]
        ].copy()
        for column in ("opened", "clicked", "replied"):
            messages[column] = np.where(m[column], "1", "0")
        messages["response_sentiment"] = m["response_sentiment"]
        templates = self.templates_frame()[["template_id", "name", "subject", "body"]]
        paths = {
            "deals": out / "deals.csv",
            "messages": out / "messages.csv",
            "templates": out / "templates.csv",
        }
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        deals.to_csv(paths["deals"], index=False, date_format=fmt)
        messages.to_csv(paths["messages"], index=False, date_format=fmt)
        templates.to_csv(paths["templates"], index=False)
        return paths
