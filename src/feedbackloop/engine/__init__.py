"""The analysis engine: pure functions from deal and message frames to template statistics and decisions.

No I/O, no clock (an explicit ``as_of``), no global randomness. Core statistics live in ``exposure``,
``attribution``, ``stats``, ``effects`` and ``trends``; insights build on them.

The names below load on first use, so that importing a light submodule (``engine.objections``, which
the CRM connectors use on reply texts) does not import scipy and statsmodels with the whole engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from feedbackloop import pandas_options  # noqa: F401  (before any frame is built)
from feedbackloop.lazy import lazy_exports

if TYPE_CHECKING:
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

#: exported name -> the submodule that defines it
_HOME = {
    "ATTRIBUTION_MODELS": "attribution",
    "attribute": "attribution",
    "adjusted_effects": "effects",
    "fit_ridge_logit": "effects",
    "build_exposures": "exposure",
    "DataStatus": "settings",
    "EngineSettings": "settings",
    "BetaPrior": "stats",
    "TemplateStats": "stats",
    "fit_beta_prior": "stats",
    "template_stats": "stats",
    "detect_declines": "trends",
}


__getattr__ = lazy_exports(__name__, _HOME)
