"""The optimizer: Thompson sampling with shrinkage, discounting and change detection, plus A/B tests.

``ContinuousOptimizer`` picks templates and learns from late outcomes; ``ABTest`` runs always-valid
tests whose winners are promoted; ``state`` persists both per tenant; ``cycle`` is the periodic
promote / deprecate / start-a-variant-test pass.
"""

from __future__ import annotations

from feedbackloop.engine.optimizer.abtest import ABTest, msprt_lambda, sticky_fraction
from feedbackloop.engine.optimizer.bandit import ContinuousOptimizer, Selection

__all__ = ["ABTest", "ContinuousOptimizer", "Selection", "msprt_lambda", "sticky_fraction"]
