"""Small synthetic deal worlds with known truth for the insight tests (fast: a few thousand deals)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
SEGMENTS = ("smb", "mid_market", "enterprise")
BASE = {"smb": -0.6, "mid_market": -0.9, "enterprise": -1.3}


@dataclass
class MiniWorld:
    deals: pd.DataFrame
    messages: pd.DataFrame
    templates: pd.DataFrame
    effects: dict[str, float] = field(default_factory=dict)


def make_world(
    seed: int = 0,
    n_deals: int = 3000,
    n_templates: int = 8,
    effects: Mapping[str, float] | None = None,
    interaction: Mapping[tuple[str, str], float] | None = None,
    per_deal: int | tuple[int, int] = 3,
    days: int = 180,
    as_of: datetime = AS_OF,
) -> MiniWorld:
    """Deals over ``days`` before ``as_of``; each receives ``per_deal`` distinct templates in order
    (a fixed number, or drawn uniformly from an inclusive range).

    logit P(won) = BASE[segment] + Σ effects[t] + Σ interaction[(t, segment)].
    """
    rng = np.random.default_rng(seed)
    ids = [f"T{i:02d}" for i in range(n_templates)]
    eff = dict(effects) if effects is not None else {t: float(rng.normal(0, 0.3)) for t in ids}
    inter = dict(interaction or {})
    segment = rng.choice(SEGMENTS, size=n_deals, p=[0.5, 0.3, 0.2])
    created = [as_of - timedelta(days=float(d)) for d in rng.uniform(20, days, n_deals)]
    deal_rows, msg_rows = [], []
    for i in range(n_deals):
        seg = str(segment[i])
        k = per_deal if isinstance(per_deal, int) else int(rng.integers(per_deal[0], per_deal[1] + 1))
        chosen = list(rng.choice(ids, size=min(k, n_templates), replace=False))
        logit = BASE[seg] + sum(eff.get(t, 0.0) + inter.get((t, seg), 0.0) for t in chosen)
        won = rng.random() < 1 / (1 + np.exp(-logit))
        closed = created[i] + timedelta(days=float(rng.uniform(8, 20)))
        lost_competitor = None if won or rng.random() > 0.3 else str(rng.choice(["Acme", "Globex"]))
        deal_rows.append(
            {
                "deal_id": f"D{i:05d}",
                "outcome": "won" if won else "lost",
                "amount": float(rng.integers(1, 50)) * 1000,
                "currency": "USD",
                "created_at": created[i],
                "closed_at": closed,
                "segment": seg,
                "industry": "software",
                "loss_reason": None if won else str(rng.choice(["price", "timing", "no decision"])),
                "competitor": lost_competitor,
                "stage_lost": None if won else str(rng.choice(["qualification", "proposal"])),
                "sequence_id": "S1",
                "owner_id": "u1",
                "source": "csv",
            }
        )
        for pos, t in enumerate(chosen, start=1):
            replied = bool(rng.random() < (0.4 if won else 0.2))
            msg_rows.append(
                {
                    "message_id": f"M{i:05d}-{pos}",
                    "deal_id": f"D{i:05d}",
                    "contact_id": f"C{i:05d}",
                    "template_id": t,
                    "sequence_id": "S1",
                    "position": pos,
                    "channel": "email",
                    "direction": "outbound",
                    "sent_at": created[i] + timedelta(days=2 * pos),
                    "opened": bool(rng.random() < 0.6),
                    "clicked": bool(rng.random() < 0.2),
                    "replied": replied,
                    "response_sentiment": None,
                    "objections": None,
                }
            )
    templates = pd.DataFrame(
        {"template_id": ids, "name": [f"Template {t}" for t in ids], "status": "active", "pinned": False}
    )
    return MiniWorld(pd.DataFrame(deal_rows), pd.DataFrame(msg_rows), templates, eff)
