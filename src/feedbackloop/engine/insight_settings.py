"""Settings of the insight half of the engine (segments, win/loss, decisions, alerts, report).

The names shared with the core (``alpha``, ``min_sample_size``, the windows, …) have the same names and
defaults as in ``EngineSettings`` so that this class can be folded into it: every insight module only
reads attributes, never constructs settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["InsightSettings"]


@dataclass(frozen=True, slots=True)
class InsightSettings:
    """Thresholds for the insight modules; the defaults are the documented product defaults."""

    # -- shared with EngineSettings (same names, same defaults) -----------------------------------
    success_outcomes: tuple[str, ...] = ("won",)
    failure_outcomes: tuple[str, ...] = ("lost",)
    alpha: float = 0.05
    fdr_method: Literal["holm", "bh"] = "bh"
    min_sample_size: int = 30
    promote_probability: float = 0.95
    deprecate_probability: float = 0.95
    recent_days: int = 30
    historical_start_days: int = 90
    historical_end_days: int = 60
    relative_drop: float = 0.20

    # -- engine-insights: decisions (hysteresis) -------------------------------------------------
    #: A promoted template stays promoted until P(better than average) falls below this.
    promote_exit_probability: float = 0.80
    #: A deprecated template stays deprecated until P(worse than average) falls below this.
    deprecate_exit_probability: float = 0.80
    #: P(an alternative beats this template) needed for `outperformed_by_alternatives` / by the
    #: current best for `outperforms_current`.
    outperform_probability: float = 0.90
    #: An engine-set status is held at least this many runs and days before the engine may leave it.
    min_status_runs: int = 2
    min_status_days: int = 7

    # -- engine-insights: segments -----------------------------------------------------------------
    segment_min_deals: int = 20
    segment_top_n: int = 5
    #: Strength (pseudo-deals) of the Beta prior centred on the segment's win rate.
    segment_prior_strength: float = 20.0
    pattern_min_occurrences: int = 30
    pattern_max_length: int = 3

    # -- engine-insights: alerts -------------------------------------------------------------------
    alert_period: Literal["day", "week", "month"] = "week"
    alert_overall_drop: float = 0.20
    alert_segment_drop: float = 0.20
    #: Relative increase in a competitor's share of lost deals (recent vs historical window).
    alert_competitor_surge: float = 0.50
    alert_min_deals: int = 30

    # -- engine-insights: report -------------------------------------------------------------------
    report_top_n: int = 5
