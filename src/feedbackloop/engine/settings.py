"""Engine settings: every threshold and window of the analysis in one frozen, validated model.

The defaults reproduce the seed's recipes (won vs lost, last 30 days vs 60–90 days ago, a 20% relative
drop, a minimum sample of 30) made statistically honest (FDR control at 5%, Beta posteriors, an L2-penalised
deal-level model). Tenants override fields through configuration; the engine never reads the environment.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["DataStatus", "EngineSettings"]

#: Status codes the engine returns instead of raising on thin or odd data.
DataStatus = Literal["ok", "insufficient_data", "no_closed_deals", "no_variation", "no_comparison", "no_data"]


class EngineSettings(BaseModel):
    """Settings of one analysis run (immutable, so a run can echo exactly what it used)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # -- outcomes ----------------------------------------------------------------------------------
    success_outcomes: tuple[str, ...] = ("won",)
    failure_outcomes: tuple[str, ...] = ("lost",)

    # -- trend windows (days before as_of, by deal close date) -------------------------------------
    recent_days: int = Field(default=30, gt=0)
    historical_start_days: int = Field(default=90, gt=0)
    historical_end_days: int = Field(default=60, ge=0)
    relative_drop: float = Field(default=0.20, gt=0, lt=1)
    trend_reference_days: int | None = Field(
        default=365,
        description="the decline test's reference period starts this many days before as_of (None: the "
        "seed's historical window); it always ends historical_end_days before as_of. Raw rates and the "
        "raw 20% rule always use the seed's windows",
    )
    min_window_deals: int = Field(
        default=10, ge=1, description="deals a template needs in each trend window to be tested"
    )

    # -- significance ------------------------------------------------------------------------------
    fdr_method: Literal["holm", "bh"] = "bh"
    alpha: float = Field(default=0.05, gt=0, lt=1)
    min_sample_size: int = Field(default=30, ge=1)
    promote_probability: float = Field(default=0.95, gt=0.5, lt=1)
    deprecate_probability: float = Field(default=0.95, gt=0.5, lt=1)
    credible_level: float = Field(default=0.95, gt=0, lt=1)

    # -- empirical-Bayes prior ---------------------------------------------------------------------
    prior_min_strength: float = Field(default=2.0, gt=0, description="lower bound on alpha+beta")
    prior_max_strength: float = Field(
        default=200.0, gt=0, description="upper bound on alpha+beta (homogeneous templates → MLE at ∞)"
    )

    # -- attribution -------------------------------------------------------------------------------
    attribution_half_life_days: float = Field(default=14.0, gt=0)

    # -- adjusted model ----------------------------------------------------------------------------
    covariates: tuple[str, ...] = Field(
        default=("segment", "sequence_depth"),
        description="deal columns adjusted for; sequence_depth = highest sequence step the deal reached",
    )
    l2_penalty: float = Field(
        default=1.0, ge=0, description="ridge precision on template log-odds (a N(0, 1/λ) prior)"
    )
    min_model_deals: int = Field(default=20, ge=2, description="closed deals needed to fit the model")
    exclude_messages_after_close: bool = True

    # -- engine-insights section (decisions, hysteresis, segments, alerts): add fields below -------
    # (owned by engine-insights; see engine/decisions.py, segments.py, alerts.py, report.py)
    #: A promoted template stays promoted until P(better than average) falls below this (hysteresis).
    promote_exit_probability: float = Field(default=0.80, gt=0.5, lt=1)
    #: A deprecated template stays deprecated until P(worse than average) falls below this.
    deprecate_exit_probability: float = Field(default=0.80, gt=0.5, lt=1)
    #: P(the best alternative beats a template) for `outperformed_by_alternatives`, and P(a template
    #: beats the current best) for `outperforms_current`.
    outperform_probability: float = Field(default=0.90, gt=0.5, lt=1)
    #: Entering promoted/deprecated also needs the one-sided q-value of the same comparison, corrected
    #: across templates, to be ≤ 1 − threshold. Holm (family-wise) by default: "no good template is ever
    #: deprecated" is a statement about the whole family; "none" turns the condition off.
    decision_correction: Literal["holm", "bh", "none"] = "holm"
    #: An engine-set status is held at least this many runs and days before the engine may leave it.
    min_status_runs: int = Field(default=2, ge=1)
    min_status_days: int = Field(default=7, ge=0)
    segment_min_deals: int = Field(default=20, ge=1, description="deals a template needs in a segment")
    segment_top_n: int = Field(default=5, ge=1)
    segment_prior_strength: float = Field(
        default=20.0, gt=0, description="pseudo-deals of the Beta prior centred on the segment win rate"
    )
    pattern_min_occurrences: int = Field(default=30, ge=2)
    pattern_max_length: int = Field(default=3, ge=2)
    alert_period: Literal["day", "week", "month"] = "week"
    alert_overall_drop: float = Field(default=0.20, gt=0, lt=1)
    alert_segment_drop: float = Field(default=0.20, gt=0, lt=1)
    alert_competitor_surge: float = Field(
        default=0.50, gt=0, description="relative rise of a competitor's share of lost deals"
    )
    alert_min_deals: int = Field(default=30, ge=1)
    report_top_n: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _check_windows(self) -> EngineSettings:
        if self.historical_end_days >= self.historical_start_days:
            raise ValueError("historical_end_days must be smaller than historical_start_days")
        if self.recent_days > self.historical_end_days and self.historical_end_days > 0:
            raise ValueError("the recent window must not overlap the historical window")
        if self.trend_reference_days is not None and self.trend_reference_days <= self.historical_end_days:
            raise ValueError("trend_reference_days must exceed historical_end_days")
        if set(self.success_outcomes) & set(self.failure_outcomes):
            raise ValueError("an outcome cannot be both a success and a failure")
        if self.prior_min_strength > self.prior_max_strength:
            raise ValueError("prior_min_strength must not exceed prior_max_strength")
        return self
