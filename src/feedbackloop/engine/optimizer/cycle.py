"""The optimization cycle (the seed's ``run_optimization_cycle``) and the conclusion of A/B tests.

Pure functions over a :class:`ContinuousOptimizer`: they change the optimizer's statuses and tests and
return what they changed, so the caller (the feedback pipeline) can write the same changes to the store
with actor ``engine``. The decision rule is a parameter (the engine's decisions module plugs in here);
the default is a small posterior rule. Creating variant content is a pluggable hook; the default hook
creates nothing and the cycle records a "new variant needed" recommendation instead.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from scipy import stats

from feedbackloop.domain import DecisionAction, TemplateStatus
from feedbackloop.engine.optimizer.abtest import ABTest
from feedbackloop.engine.optimizer.bandit import ContinuousOptimizer
from feedbackloop.engine.optimizer.posterior import GLOBAL

__all__ = [
    "CycleDecision",
    "CycleReport",
    "DecideFn",
    "StatusChange",
    "TemplateFacts",
    "VariantHook",
    "conclude_tests",
    "default_decide",
    "run_optimization_cycle",
]


@dataclass(frozen=True, slots=True)
class TemplateFacts:
    """What the cycle knows about a template: the optimizer's (discounted) global evidence."""

    template_id: str
    status: TemplateStatus
    pinned: bool
    wins: float
    losses: float

    @property
    def n(self) -> float:
        return self.wins + self.losses


@dataclass(frozen=True, slots=True)
class CycleDecision:
    template_id: str
    action: DecisionAction
    reason: str
    criteria: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StatusChange:
    template_id: str
    status: TemplateStatus
    reason: str


@dataclass
class CycleReport:
    at: datetime
    decisions: list[CycleDecision] = field(default_factory=list)
    changes: list[StatusChange] = field(default_factory=list)
    tests_started: list[str] = field(default_factory=list)
    recommendations: list[dict[str, Any]] = field(default_factory=list)


DecideFn = Callable[[Sequence[TemplateFacts], float], list[CycleDecision]]
#: Given a template id and the time, create a variant template and return its id (or None).
VariantHook = Callable[[str, datetime], str | None]


def default_decide(
    facts: Sequence[TemplateFacts], baseline: float, *, min_sample: float = 30.0, level: float = 0.95
) -> list[CycleDecision]:
    """Promote a template whose win rate is above the pooled rate with posterior probability ≥ ``level``,
    deprecate one below it with that probability, keep the rest (Beta(1, 1) prior; sample ≥ ``min_sample``).
    """
    out = []
    for f in facts:
        p_above = float(stats.beta.sf(baseline, 1.0 + f.wins, 1.0 + f.losses))
        criteria = {
            "min_sample_size": f.n >= min_sample,
            "prob_above_baseline": round(p_above, 4),
            "baseline": round(baseline, 4),
            "n": round(f.n, 1),
        }
        if f.n >= min_sample and p_above >= level:
            action, why = DecisionAction.PROMOTE, f"P(rate > pooled {baseline:.3f}) = {p_above:.3f}"
        elif f.n >= min_sample and 1.0 - p_above >= level:
            action, why = DecisionAction.DEPRECATE, f"P(rate < pooled {baseline:.3f}) = {1 - p_above:.3f}"
        else:
            action, why = DecisionAction.KEEP, "no clear difference from the pooled rate yet"
        out.append(CycleDecision(f.template_id, action, why, criteria))
    return out


def _facts(optimizer: ContinuousOptimizer, pinned: set[str]) -> tuple[list[TemplateFacts], float]:
    counts = optimizer.cells.counts[GLOBAL]
    baseline = float((counts[:, 0].sum() + 1.0) / (counts.sum() + 2.0))
    facts = [
        TemplateFacts(t, optimizer.status[t], t in pinned, float(counts[i, 0]), float(counts[i, 1]))
        for i, t in enumerate(optimizer.template_ids)
    ]
    return facts, baseline


def conclude_tests(optimizer: ContinuousOptimizer, at: datetime) -> tuple[list[ABTest], list[StatusChange]]:
    """Evaluate every running test; a winner is promoted and the other variants under test become active."""
    ended, changes = [], []
    for test in optimizer.running_tests():
        if test.evaluate(at) == "running":
            continue
        ended.append(test)
        for variant in test.variants:
            if variant == test.winner:
                changes.append(StatusChange(variant, TemplateStatus.PROMOTED, f"won A/B test {test.test_id}"))
            elif optimizer.status.get(variant) is TemplateStatus.TESTING:
                changes.append(StatusChange(variant, TemplateStatus.ACTIVE, f"A/B test {test.test_id} ended"))
    for change in changes:
        optimizer.set_status(change.template_id, change.status)
    return ended, changes


def run_optimization_cycle(
    optimizer: ContinuousOptimizer,
    at: datetime,
    *,
    decide: DecideFn = default_decide,
    variant_hook: VariantHook | None = None,
    pinned: set[str] | None = None,
    top_k: int = 1,
    min_sample: float = 30.0,
    test_options: dict[str, Any] | None = None,
) -> CycleReport:
    """Promote, deprecate, and start variant tests for the top performers (see the module docstring)."""
    pinned = pinned or set()
    report = CycleReport(at)
    facts, baseline = _facts(optimizer, pinned)
    report.decisions = decide(facts, baseline)
    targets = {
        DecisionAction.PROMOTE: TemplateStatus.PROMOTED,
        DecisionAction.DEPRECATE: TemplateStatus.DEPRECATED,
    }
    in_test = {v for t in optimizer.running_tests() for v in t.variants}
    for d in report.decisions:
        new = targets.get(d.action)
        if new is None or d.template_id in pinned or d.template_id in in_test:
            continue
        if optimizer.status[d.template_id] is not new:
            optimizer.set_status(d.template_id, new)
            report.changes.append(StatusChange(d.template_id, new, d.reason))
    served = {TemplateStatus.ACTIVE, TemplateStatus.PROMOTED}
    ranked = sorted(
        (
            f
            for f in facts
            if f.n >= min_sample
            and optimizer.status[f.template_id] in served
            and f.template_id not in in_test
        ),
        key=lambda f: (f.wins + 1.0) / (f.n + 2.0),
        reverse=True,
    )
    for f in ranked[:top_k]:
        variant = variant_hook(f.template_id, at) if variant_hook else None
        if variant is None:
            report.recommendations.append(
                {
                    "template_id": f.template_id,
                    "recommendation": "new variant needed",
                    "reason": f"top performer ({f.wins:.0f}/{f.n:.0f} won); test a new variant against it",
                }
            )
            continue
        test = ABTest(
            f"{f.template_id}-vs-{variant}-{at:%Y%m%d}",
            [f.template_id, variant],
            [0.5, 0.5],
            started_at=at,
            **(test_options or {}),
        )
        optimizer.add_test(test)
        optimizer.set_status(variant, TemplateStatus.TESTING)
        report.changes.append(
            StatusChange(variant, TemplateStatus.TESTING, f"variant under test {test.test_id}")
        )
        report.tests_started.append(test.test_id)
    return report
