"""The analysis engine: pure functions from deal and message frames to template statistics and decisions.

No I/O, no clock (an explicit ``as_of``), no global randomness. Core statistics live in ``exposure``,
``attribution``, ``stats``, ``effects`` and ``trends``; insights build on them.
"""

from __future__ import annotations

from feedbackloop import pandas_options  # noqa: F401  (before any frame is built)
from feedbackloop.engine.attribution import ATTRIBUTION_MODELS, attribute
from feedbackloop.engine.effects import adjusted_effects, fit_ridge_logit
from feedbackloop.engine.exposure import build_exposures
from feedbackloop.engine.settings import DataStatus, EngineSettings
from feedbackloop.engine.stats import BetaPrior, TemplateStats, fit_beta_prior, template_stats
from feedbackloop.engine.trends import detect_declines

__all__ = [
    "ATTRIBUTION_MODELS",
    "BetaPrior",
    "DataStatus",
    "EngineSettings",
    "TemplateStats",
    "adjusted_effects",
    "attribute",
    "build_exposures",
    "detect_declines",
    "fit_beta_prior",
    "fit_ridge_logit",
    "template_stats",
]
