"""Win/loss analysis: why deals are lost, where, to whom, after which email, and which objections.

Counts are per deal (one deal, one outcome). "Last message before loss" is the last templated email
sent on or before the close date. Objections come from the stored ``objections`` column (categories
found in replies by :func:`feedbackloop.engine.objections.find_objections`); an objection counts as
*resolved* when the deal was won after it was raised.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from feedbackloop.engine.deal_rows import deal_rows, time_key
from feedbackloop.engine.distinct import per_distinct
from feedbackloop.engine.exposure import naive_utc
from feedbackloop.engine.objections import parse_objections
from feedbackloop.engine.result import INSUFFICIENT_DATA, NO_DATA, OK, records
from feedbackloop.engine.settings import EngineSettings

__all__ = [
    "UNKNOWN",
    "competitor_losses",
    "last_messages_before_loss",
    "loss_breakdown",
    "objection_outcomes",
    "sequence_effectiveness",
    "win_loss_analysis",
]

UNKNOWN = "unknown"


def _closed(deals: pd.DataFrame, settings: EngineSettings) -> pd.DataFrame:
    outcomes = set(settings.success_outcomes) | set(settings.failure_outcomes)
    closed = deals[deals["outcome"].isin(outcomes)].copy()
    closed["won"] = closed["outcome"].isin(settings.success_outcomes)
    return closed


def _labels(series: pd.Series) -> pd.Series:
    """Blank and missing labels become ``unknown``; the rest are trimmed strings.

    Labels repeat (a handful of reasons over many deals): each distinct value is cleaned once."""
    codes, uniques = pd.factorize(series)
    text = pd.Series(np.asarray(uniques, dtype=object), dtype=object).astype("string").str.strip()
    cleaned = np.append(text.mask(text.isna() | (text == ""), UNKNOWN).astype(str).to_numpy(object), UNKNOWN)
    return pd.Series(cleaned[codes], index=series.index, dtype=object).astype(str)  # code -1: missing


def loss_breakdown(closed: pd.DataFrame, column: str) -> pd.DataFrame:
    """Lost deals by a label column (loss_reason, stage_lost): label, lost, share (of lost deals)."""
    lost = closed[~closed["won"]]
    if lost.empty:
        return pd.DataFrame(columns=["label", "lost", "share"])
    counts = _labels(lost[column]).value_counts().rename_axis("label").reset_index(name="lost")
    counts["share"] = counts["lost"] / len(lost)
    return counts.sort_values(["lost", "label"], ascending=[False, True]).reset_index(drop=True)


def competitor_losses(closed: pd.DataFrame) -> pd.DataFrame:
    """Per named competitor: deals, lost, share of all lost deals, and our win rate against them."""
    cols = ["competitor", "deals", "lost", "share_of_losses", "win_rate"]
    codes, labels = per_distinct(closed["competitor"], lambda u: str(u).strip(), "")  # each name trimmed once
    names = labels[codes]
    named = names != ""
    if not named.any():
        return pd.DataFrame(columns=cols)
    won = closed.loc[named, "won"]
    out: pd.DataFrame = (
        won.groupby(pd.Series(names[named], index=won.index, dtype=object))
        .agg(deals="size", won="sum")
        .rename_axis("competitor")
        .reset_index()
    )
    out["lost"] = out["deals"] - out["won"]
    total_lost = max(int((~closed["won"]).sum()), 1)
    out["share_of_losses"] = out["lost"] / total_lost
    out["win_rate"] = out["won"] / out["deals"]
    return out.sort_values(["lost", "competitor"], ascending=[False, True])[cols].reset_index(drop=True)


def _last_before_close(msgs: pd.DataFrame, closed: pd.DataFrame) -> pd.DataFrame | None:
    """Per closed deal its last message sent on or before the close (template_id, won); the latest
    send time wins, ties go to the later row. None when deal ids repeat (the caller merges instead)."""
    rows = deal_rows(msgs["deal_id"], closed["deal_id"])
    if rows is None:
        return None
    found = rows >= 0
    msgs, rows = msgs[found], rows[found]
    closed_at = naive_utc(closed["closed_at"])[rows]
    sent = naive_utc(msgs["sent_at"])
    before = np.isnat(closed_at) | (sent <= closed_at)
    msgs, rows = msgs[before], rows[before]
    # per deal: the latest time (missing last, as sorting puts it), then the latest row with that time
    key = time_key(msgs["sent_at"])
    latest = np.full(len(closed), np.iinfo(np.int64).min)
    np.maximum.at(latest, rows, key)
    at_latest = np.flatnonzero(key == latest[rows])
    pick = np.full(len(closed), -1)
    np.maximum.at(pick, rows[at_latest], at_latest)
    ends = pick[pick >= 0]  # in deal-row order
    return pd.DataFrame(
        {
            "template_id": msgs["template_id"].to_numpy()[ends],
            "won": closed["won"].to_numpy(dtype=bool)[rows[ends]],
        }
    )


def last_messages_before_loss(closed: pd.DataFrame, messages: pd.DataFrame) -> pd.DataFrame:
    """Templates that were the last email before close: lost_last, won_last, loss_rate_when_last, share.

    ``share`` is the share of lost deals whose last templated email was this template; comparing
    ``loss_rate_when_last`` with the overall loss rate shows a template that tends to close badly.
    """
    cols = ["template_id", "lost_last", "won_last", "loss_rate_when_last", "share_of_losses"]
    if closed.empty or messages.empty:
        return pd.DataFrame(columns=cols)
    msgs = messages.loc[messages["template_id"].notna(), ["deal_id", "template_id", "sent_at"]]
    last = _last_before_close(msgs, closed)
    if last is None:
        msgs = msgs.merge(closed[["deal_id", "won", "closed_at"]], on="deal_id")
        msgs = msgs[msgs["closed_at"].isna() | (msgs["sent_at"] <= msgs["closed_at"])]
        last = msgs.sort_values(["deal_id", "sent_at"], kind="stable").groupby("deal_id").tail(1)
    if last.empty:
        return pd.DataFrame(columns=cols)
    g = last.groupby("template_id")["won"]
    out = g.agg(total="size", won_last="sum").reset_index()
    out["lost_last"] = out["total"] - out["won_last"]
    out["loss_rate_when_last"] = out["lost_last"] / out["total"]
    out["share_of_losses"] = out["lost_last"] / max(int((~last["won"]).sum()), 1)
    return out.sort_values(["lost_last", "template_id"], ascending=[False, True])[cols].reset_index(drop=True)


def _sequence_table(msgs: pd.DataFrame, closed: pd.DataFrame) -> pd.DataFrame | None:
    """The per-sequence table of :func:`sequence_effectiveness` (ordered by sequence id), grouping on
    integer codes instead of string ids; None when deal ids repeat (the caller merges instead)."""
    rows = deal_rows(msgs["deal_id"], closed["deal_id"])
    if rows is None:
        return None
    found = rows >= 0
    msgs, rows = msgs[found], rows[found]
    if msgs.empty:
        return pd.DataFrame()
    codes, sequences = pd.factorize(msgs["sequence_id"], sort=True)
    position = pd.Series(pd.to_numeric(msgs["position"], errors="coerce").to_numpy(dtype=float))
    steps = position.groupby(codes).max().to_numpy()
    pair = codes.astype(np.int64) * len(closed) + rows  # (sequence, deal)
    reached = position.groupby(pair).max()
    pair_seq, pair_row = reached.index.to_numpy() // len(closed), reached.index.to_numpy() % len(closed)
    complete = reached.to_numpy() >= steps[pair_seq]
    n = len(sequences)
    deals = np.bincount(pair_seq, minlength=n)
    won = np.bincount(pair_seq, weights=closed["won"].to_numpy(dtype=float)[pair_row], minlength=n)
    out = pd.DataFrame(
        {
            "sequence_id": sequences,
            "deals": deals.astype(np.int64),
            "won": won.astype(np.int64),
            "completion_rate": np.bincount(pair_seq, weights=complete.astype(float), minlength=n) / deals,
        }
    )
    out["win_rate"] = out["won"] / out["deals"]
    out["steps"] = steps
    for flag, name in (("opened", "open_rate"), ("clicked", "click_rate"), ("replied", "reply_rate")):
        if flag not in msgs:
            out[name] = None
            continue
        values = pd.Series(msgs[flag].astype("boolean").to_numpy())
        out[name] = values.groupby(codes).mean().astype(float).to_numpy()
    return out


def sequence_effectiveness(closed: pd.DataFrame, messages: pd.DataFrame) -> pd.DataFrame:
    """Per sequence: deals, win rate, completion (share of its deals reaching its last step) and
    engagement (open, click and reply rates over its messages; unknown flags are left out)."""
    cols = ["sequence_id", "deals", "won", "win_rate", "steps", "completion_rate"]
    cols += ["open_rate", "click_rate", "reply_rate"]
    if closed.empty or messages.empty:
        return pd.DataFrame(columns=cols)
    used = ("deal_id", "sequence_id", "position", "opened", "clicked", "replied")
    wanted = [c for c in used if c in messages]
    fast = _sequence_table(messages.loc[messages["sequence_id"].notna(), wanted], closed)
    if fast is not None:
        if fast.empty:
            return pd.DataFrame(columns=cols)
        out = fast.sort_values(["win_rate", "deals"], ascending=[False, False])
        return out[cols].reset_index(drop=True)
    msgs = messages[messages["sequence_id"].notna()].merge(closed[["deal_id", "won"]], on="deal_id")
    if msgs.empty:
        return pd.DataFrame(columns=cols)
    pos = pd.to_numeric(msgs["position"], errors="coerce")
    msgs = msgs.assign(position=pos)
    steps = msgs.groupby("sequence_id")["position"].max()
    per_deal = msgs.groupby(["sequence_id", "deal_id"]).agg(won=("won", "first"), reached=("position", "max"))
    per_deal = per_deal.reset_index()
    per_deal["complete"] = per_deal["reached"] >= per_deal["sequence_id"].map(steps)
    out = per_deal.groupby("sequence_id").agg(
        deals=("deal_id", "size"), won=("won", "sum"), completion_rate=("complete", "mean")
    )
    out["win_rate"] = out["won"] / out["deals"]
    out["steps"] = steps
    for flag, name in (("opened", "open_rate"), ("clicked", "click_rate"), ("replied", "reply_rate")):
        values = msgs[flag].astype("boolean") if flag in msgs else pd.Series(dtype="boolean")
        out[name] = values.groupby(msgs["sequence_id"]).mean().astype(float) if len(values) else None
    out = out.reset_index().sort_values(["win_rate", "deals"], ascending=[False, False])
    return out[cols].reset_index(drop=True)


def objection_outcomes(closed: pd.DataFrame, messages: pd.DataFrame) -> pd.DataFrame:
    """Per objection category: deals where it was raised, how many were won anyway (resolved), the
    resolution rate, and the first message position at which it was raised (median)."""
    cols = ["category", "deals", "resolved", "resolution_rate", "median_position"]
    if closed.empty or messages.empty or "objections" not in messages:
        return pd.DataFrame(columns=cols)
    raised = messages.loc[messages["objections"].notna(), ["deal_id", "objections", "position"]]
    raised = raised.merge(closed[["deal_id", "won"]], on="deal_id")
    rows = [
        (category, deal_id, won, position)
        for deal_id, cell, position, won in raised.itertuples(index=False)
        for category in parse_objections(cell)
    ]
    if not rows:
        return pd.DataFrame(columns=cols)
    frame = pd.DataFrame(rows, columns=["category", "deal_id", "won", "position"])
    frame["position"] = pd.to_numeric(frame["position"], errors="coerce")
    per_deal = frame.groupby(["category", "deal_id"]).agg(won=("won", "first"), position=("position", "min"))
    out = per_deal.groupby("category").agg(
        deals=("won", "size"), resolved=("won", "sum"), median_position=("position", "median")
    )
    out["resolution_rate"] = out["resolved"] / out["deals"]
    out = out.reset_index().sort_values(["deals", "category"], ascending=[False, True])
    return out[cols].reset_index(drop=True)


def win_loss_analysis(
    deals: pd.DataFrame, messages: pd.DataFrame, settings: EngineSettings
) -> dict[str, Any]:
    """The ``win_loss`` section of the analyze JSON."""
    empty: dict[str, Any] = {
        "loss_reasons": [],
        "stages_lost": [],
        "competitor_losses": [],
        "last_messages_before_loss": [],
        "sequences": [],
        "objections": [],
    }
    if deals.empty:
        return {"data_status": NO_DATA, "deals_closed": 0, "won": 0, "lost": 0, **empty}
    closed = _closed(deals, settings)
    n_won = int(closed["won"].sum())
    n_lost = len(closed) - n_won
    head = {"deals_closed": len(closed), "won": n_won, "lost": n_lost}
    if closed.empty:
        return {"data_status": NO_DATA, **head, **empty}
    return {
        "data_status": OK if n_lost >= settings.min_sample_size else INSUFFICIENT_DATA,
        **head,
        "loss_reasons": records(loss_breakdown(closed, "loss_reason")),
        "stages_lost": records(loss_breakdown(closed, "stage_lost")),
        "competitor_losses": records(competitor_losses(closed)),
        "last_messages_before_loss": records(last_messages_before_loss(closed, messages)),
        "sequences": records(sequence_effectiveness(closed, messages)),
        "objections": records(objection_outcomes(closed, messages)),
    }
