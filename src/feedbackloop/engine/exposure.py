"""Exposures: one row per (closed deal × template), the unit of analysis of the whole engine.

A deal that received template A three times is one exposure of A, not three: counting messages would
inflate samples and fake significance (losing deals receive more follow-ups, so per-message counts are
biased too). Only deals whose outcome counts as a success or a failure are kept; ad-hoc messages (no
template), inbound messages and, by default, messages sent after the deal closed are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from feedbackloop.engine.settings import EngineSettings

__all__ = [
    "EXPOSURE_COLUMNS",
    "UNKNOWN_SEGMENT",
    "Touches",
    "aware_utc",
    "build_exposures",
    "closed_deals",
    "naive_utc",
    "templated_messages",
]

UNKNOWN_SEGMENT = "unknown"

EXPOSURE_COLUMNS = (
    "deal_id",
    "template_id",
    "won",
    "closed_at",
    "segment",
    "amount",
    "n_messages",
    "first_sent_at",
    "last_sent_at",
    "first_position",
    "deal_depth",
    "deal_index",
)

_UTC_NAT = pd.Series([], dtype="datetime64[ns, UTC]")


def _column(frame: pd.DataFrame, name: str, default: object) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series(default, index=frame.index, dtype=object if default is None else None)


def _utc(values: pd.Series) -> pd.Series:
    """Timestamps as UTC-aware datetimes; naive ones are taken to be UTC already."""
    return pd.to_datetime(values, utc=True, errors="coerce")


def naive_utc(values: pd.Series) -> np.ndarray:
    """UTC-aware timestamps as a naive ``datetime64`` array (fast to compare, sort and subtract)."""
    return np.asarray(_utc(values).dt.tz_convert(None).to_numpy())


def aware_utc(values: np.ndarray) -> pd.Series:
    """A naive UTC ``datetime64`` array back as a UTC-aware Series."""
    return pd.Series(values).dt.tz_localize("UTC")


def closed_deals(deals: pd.DataFrame, settings: EngineSettings) -> pd.DataFrame:
    """Deals that ended in a success or a failure, one row each, with ``won`` and a filled segment.

    Columns: deal_id, won, closed_at, segment, amount, plus every configured covariate column that the
    deals frame has. Duplicate deal ids keep their last row (the freshest sync).
    """
    if deals is None or len(deals) == 0 or "deal_id" not in deals.columns:
        return pd.DataFrame(
            {
                "deal_id": pd.Series(dtype=object),
                "won": pd.Series(dtype=bool),
                "closed_at": _UTC_NAT.iloc[:0],
                "segment": pd.Series(dtype=object),
                "amount": pd.Series(dtype=float),
            }
        )
    outcome = _column(deals, "outcome", None).astype(object)
    success = outcome.isin(settings.success_outcomes)
    keep = success | outcome.isin(settings.failure_outcomes)
    keep &= deals["deal_id"].notna()
    sub = deals.loc[keep]
    out = pd.DataFrame(
        {
            "deal_id": sub["deal_id"].astype(object),
            "won": success[keep].to_numpy(dtype=bool),
            "closed_at": _utc(_column(sub, "closed_at", None)),
            "segment": _column(sub, "segment", None).astype(object).fillna(UNKNOWN_SEGMENT),
            "amount": pd.to_numeric(_column(sub, "amount", None), errors="coerce").astype(float),
        }
    )
    for name in settings.covariates:
        if name not in out.columns and name in sub.columns:
            out[name] = sub[name]
    out.loc[out["segment"].astype(str).str.len() == 0, "segment"] = UNKNOWN_SEGMENT
    return out.drop_duplicates("deal_id", keep="last").reset_index(drop=True)


def templated_messages(messages: pd.DataFrame, deals: pd.DataFrame, settings: EngineSettings) -> pd.DataFrame:
    """Outbound templated messages of the given closed deals, with the deal's row index as ``deal_row``.

    ``deals`` is the output of :func:`closed_deals`. Columns: deal_row, template_id, sent_at, position.
    """
    empty = pd.DataFrame(
        {
            "deal_row": pd.Series(dtype=np.int64),
            "template_id": pd.Series(dtype=object),
            "sent_at": _UTC_NAT.iloc[:0],
            "position": pd.Series(dtype=float),
        }
    )
    if messages is None or len(messages) == 0 or len(deals) == 0:
        return empty
    if "deal_id" not in messages.columns or "template_id" not in messages.columns:
        return empty
    deal_row = pd.Index(deals["deal_id"]).get_indexer(messages["deal_id"])
    template = messages["template_id"]
    keep = (deal_row >= 0) & template.notna().to_numpy() & (template.astype(object) != "").to_numpy()
    if "direction" in messages.columns:
        direction = messages["direction"].astype(object)
        keep &= (direction.isna() | (direction == "outbound")).to_numpy()
    sent_at = naive_utc(_column(messages, "sent_at", None))
    if settings.exclude_messages_after_close:
        closed_at = naive_utc(deals["closed_at"])[np.where(deal_row >= 0, deal_row, 0)]
        keep &= ~(sent_at > closed_at)  # NaT compares False: unknown times are kept
    if not keep.any():
        return empty
    return pd.DataFrame(
        {
            "deal_row": deal_row[keep].astype(np.int64),
            "template_id": messages["template_id"].to_numpy()[keep].astype(object),
            "sent_at": aware_utc(sent_at[keep]),
            "position": pd.to_numeric(_column(messages, "position", None), errors="coerce").to_numpy(
                dtype=float
            )[keep],
        }
    )


def _deal_max(deal_row: np.ndarray, values: np.ndarray, n_deals: int) -> np.ndarray:
    """Per deal, the largest non-NaN value (NaN when none)."""
    out = np.full(n_deals, -np.inf)
    ok = ~np.isnan(values)
    np.maximum.at(out, deal_row[ok], values[ok])
    out[np.isinf(out)] = np.nan
    return out


@dataclass(frozen=True)
class Touches:
    """Closed deals (:func:`closed_deals`) and their templated messages (:func:`templated_messages`),
    with the messages' order by (deal, send time, position) and their template codes (ids sorted):
    built once per run and shared by the exposures and the attribution, which both start from them."""

    deals: pd.DataFrame
    messages: pd.DataFrame
    order: np.ndarray  # stable: ties keep the messages' order
    template_codes: np.ndarray
    template_names: np.ndarray

    @classmethod
    def build(cls, deals: pd.DataFrame, messages: pd.DataFrame, settings: EngineSettings) -> Touches:
        closed = closed_deals(deals, settings)
        msgs = templated_messages(messages, closed, settings)
        sent = naive_utc(msgs["sent_at"])
        order = np.lexsort((msgs["position"].to_numpy(), sent, msgs["deal_row"].to_numpy()))
        codes, names = pd.factorize(msgs["template_id"].to_numpy(), sort=True)
        return cls(closed, msgs, order, codes, np.asarray(names, dtype=object))


def build_exposures(
    deals: pd.DataFrame, messages: pd.DataFrame, settings: EngineSettings, *, touches: Touches | None = None
) -> pd.DataFrame:
    """One row per (closed deal × template) with the deal's outcome and the exposure's timing.

    Columns: see :data:`EXPOSURE_COLUMNS` (plus configured covariates found on the deals); ``deal_depth``
    is the highest sequence position among the deal's templated messages (NaN without positions);
    ``deal_index`` numbers the deals of this build (fast grouping; do not mix frames of two builds). Deals
    without templated messages have no exposures. Empty or odd input yields an empty frame with these columns.
    ``touches``, when given, must have been built from these ``deals`` and ``messages``.
    """
    touches = touches or Touches.build(deals, messages, settings)
    cd, msgs = touches.deals, touches.messages
    extra = [c for c in cd.columns if c not in EXPOSURE_COLUMNS]
    if len(msgs) == 0:
        empty = cd.iloc[:0]
        return pd.DataFrame(
            {
                "deal_id": empty["deal_id"],
                "template_id": pd.Series(dtype=object),
                "won": empty["won"],
                "closed_at": empty["closed_at"],
                "segment": empty["segment"],
                "amount": empty["amount"],
                "n_messages": pd.Series(dtype=np.int64),
                "first_sent_at": _UTC_NAT.iloc[:0],
                "last_sent_at": _UTC_NAT.iloc[:0],
                "first_position": pd.Series(dtype=float),
                "deal_depth": pd.Series(dtype=float),
                "deal_index": pd.Series(dtype=np.int64),
                **{c: empty[c] for c in extra},
            }
        )
    codes, names = touches.template_codes, touches.template_names
    key = msgs["deal_row"].to_numpy() * np.int64(len(names)) + codes
    # Sort by (exposure, time, position) so that first/last rows are the first/last touches: a stable
    # sort by exposure of the touches' (deal, time, position) order.
    order = touches.order[np.argsort(key[touches.order], kind="stable")]
    key = key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    sent = naive_utc(msgs["sent_at"])[order]
    rows = key[starts] // len(names)
    out = cd.iloc[rows].reset_index(drop=True)
    exposures = pd.DataFrame(
        {
            "deal_id": out["deal_id"],
            "template_id": pd.Series(names[key[starts] % len(names)], dtype=object),
            "won": out["won"],
            "closed_at": out["closed_at"],
            "segment": out["segment"],
            "amount": out["amount"],
            "n_messages": (ends - starts).astype(np.int64),
            "first_sent_at": aware_utc(sent[starts]),
            "last_sent_at": aware_utc(sent[ends - 1]),
            "first_position": msgs["position"].to_numpy()[order][starts],
            # how far the deal got: the highest sequence step of any templated message it received
            "deal_depth": _deal_max(msgs["deal_row"].to_numpy(), msgs["position"].to_numpy(), len(cd))[rows],
            "deal_index": rows.astype(np.int64),
        }
    )
    for c in extra:
        exposures[c] = out[c].to_numpy()
    return exposures
