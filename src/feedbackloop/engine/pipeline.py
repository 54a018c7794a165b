"""``run_analysis``: the whole engine, core statistics then insights, into one :class:`AnalysisResult`.

Pure: frames, settings, an explicit ``as_of`` and a seeded generator in; a result out. Data from after
``as_of`` is invisible (deals created later are dropped, deals closed later count as open, messages sent
later are dropped), so a run with an old ``as_of`` reproduces what the engine would have said then.
Thin data gives ``data_status`` codes, never an exception; a failure inside one insight section is
reported in that section (``data_status: "error"``) and in ``warnings`` instead of failing the run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
import pandas as pd

from feedbackloop.engine.alerts import build_alerts
from feedbackloop.engine.attribution import attribute
from feedbackloop.engine.decisions import Decision, decide
from feedbackloop.engine.effects import adjusted_effects
from feedbackloop.engine.exposure import Touches, build_exposures
from feedbackloop.engine.overview import overall_metrics, template_rows
from feedbackloop.engine.report import build_report, recommendations
from feedbackloop.engine.result import (
    INSUFFICIENT_DATA,
    NO_DATA,
    OK,
    AnalysisResult,
    PreviousState,
    clean,
    records,
)
from feedbackloop.engine.segments import segment_insights
from feedbackloop.engine.settings import EngineSettings
from feedbackloop.engine.stats import template_stats
from feedbackloop.engine.trends import detect_declines
from feedbackloop.engine.winloss import win_loss_analysis
from feedbackloop.errors import EngineError

__all__ = ["DEAL_COLUMNS", "MESSAGE_COLUMNS", "TEMPLATE_COLUMNS", "run_analysis"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEAL_COLUMNS = (
    "deal_id", "outcome", "amount", "currency", "created_at", "closed_at", "segment", "industry",
    "loss_reason", "competitor", "stage_lost", "sequence_id", "owner_id", "source",
)  # fmt: skip
MESSAGE_COLUMNS = (
    "message_id", "deal_id", "contact_id", "template_id", "sequence_id", "position", "channel",
    "direction", "sent_at", "opened", "clicked", "replied", "response_sentiment", "objections",
)  # fmt: skip
TEMPLATE_COLUMNS = ("template_id", "name", "status", "pinned")
_TIMES = ("created_at", "closed_at", "sent_at")


def _normalise(frame: pd.DataFrame | None, columns: tuple[str, ...]) -> pd.DataFrame:
    """A copy with every expected column (missing ones as None) and UTC-aware time columns."""
    # shallow: under copy-on-write (pandas 3) writes to the copy never reach the caller's frame
    frame = pd.DataFrame() if frame is None else frame.copy(deep=False)
    for column in columns:
        if column not in frame.columns:
            frame[column] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    for column in _TIMES:
        if column in frame.columns and not _utc_times(frame[column]):
            frame[column] = pd.to_datetime(frame[column], utc=True, errors="coerce")
    return frame.reset_index(drop=True)


def _utc_times(values: pd.Series) -> bool:
    """Already UTC-aware datetimes (the store's frames): nothing to convert."""
    dtype = values.dtype
    return isinstance(dtype, pd.DatetimeTZDtype) and str(dtype.tz) == "UTC"


def _deal_codes(deals: pd.DataFrame, messages: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deal ids replaced by integers that sort as the ids do (messages of unknown deals get none).

    Every section joins messages onto deals; hashing and comparing a million string ids costs more
    than the statistics. The ids never reach the result, so integers numbered in the ids' sort order
    give the same joins, groups and orderings. A missing id stays missing (NaN, as a float code).
    """
    left, right = deals["deal_id"], messages["deal_id"]
    if _shared_sorted_categories(left, right):  # the store's frames (Store.frames with a shared key)
        codes, message_codes = left.cat.codes.to_numpy(), right.cat.codes.to_numpy()
    else:
        codes, ids = pd.factorize(left, sort=True)
        message_codes = pd.Index(ids).get_indexer(right)
    deals, messages = deals.copy(deep=False), messages.copy(deep=False)
    if (codes < 0).any() or (message_codes < 0).any():
        deals["deal_id"] = np.where(codes >= 0, codes, np.nan)
        messages["deal_id"] = np.where(message_codes >= 0, message_codes, np.nan)
    else:
        deals["deal_id"] = codes.astype(np.int64)
        messages["deal_id"] = message_codes.astype(np.int64)
    return deals, messages


def _shared_sorted_categories(left: pd.Series, right: pd.Series) -> bool:
    """Both Categoricals of one dtype with sorted categories: their codes order as the ids do."""
    if not isinstance(left.dtype, pd.CategoricalDtype) or not isinstance(right.dtype, pd.CategoricalDtype):
        return False
    same = left.dtype is right.dtype or left.dtype == right.dtype
    return bool(same and not left.dtype.ordered and left.cat.categories.is_monotonic_increasing)


def _as_seen_at(
    deals: pd.DataFrame, messages: pd.DataFrame, at: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hide the future: deals created after ``at`` go, deals closed after it are still open."""
    deals = deals[~(deals["created_at"] > at)].copy()
    later = deals["closed_at"] > at
    deals.loc[later, "outcome"] = "open"
    deals.loc[later, "closed_at"] = pd.NaT
    messages = messages[~(messages["sent_at"] > at) & messages["deal_id"].isin(deals["deal_id"])]
    return deals.reset_index(drop=True), messages.reset_index(drop=True)


def _section(name: str, warnings: list[str], build: Callable[[], T], fallback: T) -> T:
    try:
        return build()
    except Exception as exc:  # one broken section must not fail the run; it is reported instead
        log.exception("analysis section %s failed", name)
        warnings.append(f"{name}: {exc.__class__.__name__}: {exc}")
        return fallback


def run_analysis(
    deals: pd.DataFrame | None,
    messages: pd.DataFrame | None,
    templates: pd.DataFrame | None,
    settings: EngineSettings,
    as_of: datetime,
    rng: np.random.Generator,
    previous: PreviousState | None = None,
) -> AnalysisResult:
    """Run the engine over one tenant's frames as of ``as_of`` (UTC-aware)."""
    if as_of.tzinfo is None:
        raise EngineError("as_of must be timezone-aware (UTC)")
    at = pd.Timestamp(as_of).tz_convert("UTC")
    deals_n = _normalise(deals, DEAL_COLUMNS)
    messages_n = _normalise(messages, MESSAGE_COLUMNS)
    tmpl = _normalise(templates, TEMPLATE_COLUMNS)
    deals_n, messages_n = _as_seen_at(*_deal_codes(deals_n, messages_n), at)
    warnings: list[str] = []

    touches = Touches.build(deals_n, messages_n, settings)
    exposures = build_exposures(deals_n, messages_n, settings, touches=touches)
    known = set(tmpl["template_id"].dropna().astype(str)) | set(
        exposures["template_id"].drop_duplicates().astype(str)  # not a Python loop over every exposure
    )
    extra = sorted(known - set(tmpl["template_id"].dropna().astype(str)))
    if extra:
        tmpl = pd.concat(
            [tmpl, pd.DataFrame({"template_id": extra, "name": None, "status": "active", "pinned": False})],
            ignore_index=True,
        )
    tmpl["status"] = tmpl["status"].fillna("active")
    tmpl["pinned"] = tmpl["pinned"].fillna(False).astype(bool)
    ids = sorted(known)
    stats = template_stats(exposures, settings, templates=ids)
    effects = adjusted_effects(exposures, deals_n, settings)
    trends = detect_declines(exposures, deals_n, settings, as_of)
    attribution = attribute(deals_n, messages_n, settings, touches=touches)
    table = stats.join(effects[["score", "score_se", "z", "p_value", "slot"]], how="left")
    table = table.join(trends.drop(columns=["data_status", "p_value"]), how="left")
    table["effect_status"] = effects["data_status"].reindex(table.index)
    table["trend_status"] = trends["data_status"].reindex(table.index)
    table["p_best"] = _p_best(stats, rng)

    cov = effects.attrs.get("score_covariance")
    decisions = decide(table, tmpl, settings, as_of, previous=previous, cov=cov)
    overall = overall_metrics(deals_n, messages_n, settings, at, stats.attrs.get("baseline_win_rate"))
    template_list = template_rows(table, tmpl, decisions, attribution)
    declining = records(
        trends[trends["declining"]]
        .reset_index()
        .loc[:, ["template_id", "recent_deals", "recent_win_rate", "historical_deals",
                 "historical_win_rate", "relative_change", "change", "change_se", "p_value", "q_value"]]
    )  # fmt: skip
    segments = _section(
        "segments",
        warnings,
        lambda: segment_insights(exposures, deals_n, messages_n, settings),
        {"data_status": "error"},
    )
    win_loss = _section(
        "win_loss",
        warnings,
        lambda: win_loss_analysis(deals_n, messages_n, settings),
        {"data_status": "error"},
    )
    closed = deals_n[deals_n["outcome"].isin([*settings.success_outcomes, *settings.failure_outcomes])].copy()
    closed["won"] = closed["outcome"].isin(settings.success_outcomes)
    alerts = build_alerts(closed, decisions, settings, as_of, previous)
    recs = recommendations(decisions, segments, win_loss)
    report = _section(
        "report",
        warnings,
        lambda: build_report(
            {
                "overall": overall,
                "templates": template_list,
                "declining": declining,
                "segments": segments,
                "win_loss": win_loss,
            },
            recs,
            settings,
        ),
        {"data_status": "error"},
    )
    if not effects.attrs.get("converged", True):
        warnings.append("adjusted model did not converge; scores are approximate")
    return AnalysisResult(
        as_of=as_of,
        data_status=_overall_status(overall, settings),
        overall=overall,
        templates=template_list,
        declining=declining,
        segments=segments,
        win_loss=win_loss,
        alerts=alerts.alerts,
        recommendations=recs,
        report=report,
        settings=clean(settings.model_dump()),
        state=_state(decisions, alerts.alert_keys, alerts.suppressed),
        warnings=warnings,
    )


def _p_best(stats: pd.DataFrame, rng: np.random.Generator, draws: int = 4000) -> pd.Series:
    """P(a template has the highest win rate) from joint Beta posterior draws (templates with deals)."""
    has = stats[stats["deals"] > 0]
    out = pd.Series(np.nan, index=stats.index)
    if has.empty:
        return out
    samples = rng.beta(has["alpha"].to_numpy()[:, None], has["beta"].to_numpy()[:, None], (len(has), draws))
    best = np.bincount(samples.argmax(axis=0), minlength=len(has)) / draws
    out.loc[has.index] = best
    return out


def _overall_status(overall: dict[str, Any], settings: EngineSettings) -> str:
    if not overall.get("deals_total"):
        return NO_DATA
    if not overall.get("deals_closed"):
        return "no_closed_deals"
    return OK if overall["deals_closed"] >= settings.min_sample_size else INSUFFICIENT_DATA


def _state(decisions: list[Decision], alert_keys: dict[str, str], suppressed: list[str]) -> dict[str, Any]:
    return {
        "templates": {
            d.template_id: {
                "status": d.state.status,
                "since": d.state.since,
                "runs_in_status": d.state.runs_in_status,
            }
            for d in decisions
        },
        "alert_keys": alert_keys,
        "alerts_suppressed": suppressed,
    }
