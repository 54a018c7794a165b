"""Simulated sequence emails: steps sent until the prospect replies, engagement, replies and their texts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from feedbackloop.sandbox import worldtext as text

if TYPE_CHECKING:
    from feedbackloop.sandbox.worldgen import WorldConfig

__all__ = ["MailLog", "simulate_emails"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


@dataclass
class MailLog:
    """Every email of the timeline as parallel arrays (one entry per email), plus per-deal summaries."""

    deal: np.ndarray  # deal index
    step: np.ndarray  # 1-based position; 0 for ad-hoc emails
    template: np.ndarray  # template index; -1 for ad-hoc emails
    sent: pd.DatetimeIndex
    opened: np.ndarray
    clicked: np.ndarray
    replied: np.ndarray
    positive: np.ndarray
    reply_delay: np.ndarray  # days after sending
    received: np.ndarray  # (n_deals, n_templates) bool
    last_sent: pd.DatetimeIndex  # per deal
    rng: np.random.Generator

    def frames(
        self,
        deals: pd.DataFrame,
        template_ids: np.ndarray,
        sequence_of_deal: np.ndarray,
        objection_hint: np.ndarray,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The outbound messages and inbound replies as frames, ordered by time, with stable ids."""
        rng = self.rng
        order = np.lexsort((self.step, self.deal, self.sent.to_numpy()))
        d = self.deal[order]
        step = self.step[order]
        tmpl = self.template[order]
        sent = self.sent[order]
        replied = self.replied[order]
        positive = self.positive[order]
        n = len(order)
        adhoc = tmpl < 0
        objection = np.where(replied & ~positive & (rng.random(n) < 0.8), objection_hint[d], "")
        sentiment = np.where(
            positive,
            rng.uniform(0.5, 0.95, n),
            np.where(objection != "", rng.uniform(-0.8, -0.1, n), rng.uniform(-0.1, 0.2, n)),
        )
        opened = self.opened[order]
        clicked = self.clicked[order]
        deal_ids = deals["deal_id"].to_numpy()[d]
        thread = np.where(
            adhoc,
            np.char.add(np.char.add("t", deal_ids.astype(str)), "-adhoc"),
            np.char.add("t", deal_ids.astype(str)),
        )
        message_ids = (np.arange(n, dtype=np.int64) + 9000000001).astype(str).astype(object)
        subject = np.where(adhoc, "Quick follow-up", np.char.add("Step ", step.astype(str)))
        messages = pd.DataFrame(
            {
                "message_id": message_ids,
                "deal_id": deal_ids,
                "contact_id": deals["contact_id"].to_numpy()[d],
                "owner_id": deals["owner_id"].to_numpy()[d],
                "template_id": np.where(adhoc, None, template_ids[np.maximum(tmpl, 0)]),
                "sequence_id": np.where(adhoc, None, sequence_of_deal[d]),
                "position": pd.array(np.where(adhoc, 0, step), dtype="Int64").astype("Int64"),
                "channel": "email",
                "direction": "outbound",
                "sent_at": sent,
                "subject": subject.astype(object),
                "thread_id": thread.astype(object),
                "opened": opened,
                "clicked": clicked,
                "replied": replied,
                "open_count": np.where(opened, 1 + rng.poisson(0.8, n), 0),
                "click_count": np.where(clicked, 1 + rng.poisson(0.3, n), 0),
                "response_sentiment": np.where(replied, np.round(sentiment, 3), np.nan),
                "objections": pd.Series(objection, dtype=object).where(objection != "", None).to_numpy(),
                "updated_at": sent,
            }
        )
        messages.loc[adhoc, "position"] = pd.NA
        r = np.flatnonzero(replied)
        reply_sent = (sent[r] + pd.to_timedelta(self.reply_delay[order][r], unit="D")).floor("s")
        replies = pd.DataFrame(
            {
                "message_id": (np.arange(len(r), dtype=np.int64) + 9500000001).astype(str).astype(object),
                "deal_id": deal_ids[r],
                "contact_id": messages["contact_id"].to_numpy()[r],
                "in_reply_to": message_ids[r],
                "thread_id": thread[r].astype(object),
                "sent_at": reply_sent,
                "subject": np.char.add("Re: ", subject[r].astype(str)).astype(object),
                "text": text.reply_texts(rng, positive[r], objection[r]),
                "sentiment": np.round(sentiment[r], 3),
            }
        )
        messages.loc[r, "updated_at"] = reply_sent
        return messages, replies


def simulate_emails(
    cfg: WorldConfig,
    rng: np.random.Generator,
    created: pd.DatetimeIndex,
    deal_templates: np.ndarray,
    engagement: np.ndarray,
    effects: np.ndarray,
    interest: np.ndarray,
    delays: np.ndarray,
) -> MailLog:
    """Send each deal's sequence step by step; a reply (any) ends the enrolment."""
    n, steps = int(deal_templates.shape[0]), int(deal_templates.shape[1])
    n_t = len(engagement)
    z_eff = effects / max(cfg.effect_sd, 1e-9)
    active = np.ones(n, dtype=bool)
    offset: np.ndarray = rng.uniform(0.0, 1.0, size=n)
    last = offset.copy()
    received = np.zeros((n, n_t), dtype=bool)
    parts: dict[str, list[np.ndarray]] = {
        k: [] for k in ("deal", "step", "template", "offset", "opened", "clicked", "replied", "positive")
    }
    for s in range(steps):
        if s:
            offset = offset + delays[s] + rng.uniform(0.0, 1.0, n)
        idx = np.flatnonzero(active)
        tmpl = deal_templates[idx, s]
        eng = engagement[tmpl]
        opened = rng.random(len(idx)) < _sigmoid(0.2 + 0.5 * eng)
        clicked = opened & (rng.random(len(idx)) < _sigmoid(-1.6 + 0.4 * eng))
        replied = rng.random(len(idx)) < _sigmoid(-2.3 + 0.35 * eng + 0.7 * interest[idx])
        positive = replied & (rng.random(len(idx)) < _sigmoid(0.2 + 0.9 * interest[idx] + 0.3 * z_eff[tmpl]))
        for key, value in zip(
            parts,
            (idx, np.full(len(idx), s + 1), tmpl, offset[idx], opened, clicked, replied, positive),
            strict=True,
        ):
            parts[key].append(value)
        received[idx, tmpl] = True
        last[idx] = offset[idx]
        active[idx[replied]] = False
    # ad-hoc one-off emails (no template, no sequence) somewhere within the enrolment
    k = rng.poisson(cfg.adhoc_per_deal, n)
    a_idx = np.repeat(np.arange(n), k)
    a_off = rng.uniform(0.0, 1.0, len(a_idx)) * (last[a_idx] + 1.0)
    a_open = rng.random(len(a_idx)) < 0.5
    none = np.zeros(len(a_idx), dtype=bool)
    for key, value in zip(
        parts,
        (
            a_idx,
            np.zeros(len(a_idx), dtype=np.int64),
            np.full(len(a_idx), -1),
            a_off,
            a_open,
            none,
            none,
            none,
        ),
        strict=True,
    ):
        parts[key].append(value)
    cat = {key: np.concatenate(values) for key, values in parts.items()}
    return MailLog(
        deal=cat["deal"],
        step=cat["step"].astype(np.int64),
        template=cat["template"].astype(np.int64),
        sent=(created[cat["deal"]] + pd.to_timedelta(cat["offset"], unit="D")).floor("s"),
        opened=cat["opened"],
        clicked=cat["clicked"],
        replied=cat["replied"],
        positive=cat["positive"],
        reply_delay=rng.uniform(0.1, 2.0, len(cat["deal"])),
        received=received,
        last_sent=created + pd.to_timedelta(np.maximum(last, offset * 0), unit="D"),
        rng=rng,
    )
