"""`ContinuousOptimizer`: Thompson sampling over templates that stays sound under delay and drift.

Model. Each template has discounted pseudo-counts of wins and losses globally and in every context cell
(segment, and segment × sequence position). The global posterior of a template is a Beta centred on the
pooled win rate of all templates (``prior_strength`` pseudo-deals); a segment's posterior is a Beta whose
prior is the template's global posterior mean with ``segment_strength`` pseudo-deals (never more than the
global evidence), so thin segments borrow strength from the template's overall record; a position cell
shrinks the same way toward its segment. Selection draws once from each eligible template's posterior in
the most specific cell of the context and takes the largest draw.

Drift. A two-sided CUSUM per template (``change_threshold``) replaces a template's history by the
outcomes since the change when its win rate jumps; optionally pseudo-counts also decay with a half-life
(``half_life_days``) measured on the outcome clock. Delayed feedback needs nothing special: updates
simply arrive later.

Around it: deprecated templates are never chosen; templates in ``testing`` status are served only through
their A/B test; an active test assigns its variants stickily by ``prospect_id`` or ``deal_id``; a strongly
positive reply (sentiment and meeting intent) multiplies the template's draws by ``1 + boost`` for
``boost_hours``. All randomness comes from one seeded ``numpy.random.Generator`` whose state is part of
the JSON state, so a reloaded optimizer continues exactly as the original would have.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from feedbackloop.domain import TemplateStatus
from feedbackloop.engine.optimizer.abtest import ABTest
from feedbackloop.engine.optimizer.drift import CusumDetector
from feedbackloop.engine.optimizer.ledger import OutcomeLedger
from feedbackloop.engine.optimizer.posterior import Cells, cell_keys, unit_of
from feedbackloop.errors import EngineError

__all__ = ["ContinuousOptimizer", "Selection"]

_DAY = 86400.0
_SERVED = {TemplateStatus.ACTIVE, TemplateStatus.PROMOTED, TemplateStatus.REVIEW}


def _ts(at: datetime) -> float:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True, slots=True)
class Selection:
    """A chosen template and why it was chosen."""

    template_id: str
    source: str  # "abtest" | "bandit"
    reason: str


class ContinuousOptimizer:
    """Chooses templates per context and learns from (late) outcomes; see the module docstring.

    Defaults were chosen by simulation (``benchmarks/bench_optimizer.py``, README "Optimizer"): with
    outcomes two weeks late, discounting alone barely helps under drift (the delay dominates) and costs
    regret at fixed rates (a 30-day half-life +75%), while change detection recovers within about a day
    of the late outcomes showing a drop and almost never fires at fixed rates. A 365-day half-life did
    not help in any scenario tried (not even a neglected template that improves), so change detection is
    on and discounting is off by default (``half_life_days`` turns it on); the global prior is one
    pseudo-deal at the pooled rate (2 gave heavier-tailed regret).
    """

    def __init__(
        self,
        template_ids: Iterable[str],
        seed: int | None = 0,
        *,
        half_life_days: float | None = None,
        change_threshold: float | None = 10.0,
        change_shift: float = 0.5,
        change_min_evidence: float = 50.0,
        prior_strength: float = 1.0,
        prior_mean: float | None = None,
        segment_strength: float = 10.0,
        position_strength: float = 10.0,
        boost: float = 0.25,
        boost_hours: float = 24.0,
        boost_min_sentiment: float = 0.5,
        dedupe_days: float = 30.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        ids = list(dict.fromkeys(template_ids))
        if half_life_days is not None and half_life_days <= 0:
            raise EngineError("half_life_days must be positive (or None for no discounting)")
        self.options: dict[str, Any] = {
            "half_life_days": half_life_days,
            "change_threshold": change_threshold,
            "change_shift": change_shift,
            "change_min_evidence": change_min_evidence,
            "prior_strength": prior_strength,
            "prior_mean": prior_mean,
            "segment_strength": segment_strength,
            "position_strength": position_strength,
            "boost": boost,
            "boost_hours": boost_hours,
            "boost_min_sentiment": boost_min_sentiment,
            "dedupe_days": dedupe_days,
        }
        self.rng = np.random.default_rng(seed)
        self._clock = clock or (lambda: datetime.now(UTC))
        self.template_ids: list[str] = []
        self._index: dict[str, int] = {}
        self.status: dict[str, TemplateStatus] = {}
        self.cells = Cells(None if half_life_days is None else half_life_days * _DAY, prior_mean)
        self.detector = CusumDetector(0, shift=change_shift, threshold=change_threshold or 0.0)
        self.boost_until: dict[str, float] = {}
        self.tests: dict[str, ABTest] = {}
        self.changes: list[dict[str, Any]] = []
        self.ledger = OutcomeLedger(dedupe_days)
        self._cache: tuple[list[str], list[str], np.ndarray] | None = None
        self.add_templates(ids)

    # -- templates and statuses --------------------------------------------------------------------
    def add_templates(
        self, template_ids: Iterable[str], status: TemplateStatus = TemplateStatus.ACTIVE
    ) -> None:
        """Start tracking new templates (known ones are left as they are)."""
        new = [t for t in dict.fromkeys(template_ids) if t not in self._index]
        for t in new:
            self._index[t] = len(self.template_ids)
            self.template_ids.append(t)
            self.status[t] = status
        if new:
            self._cache = None
        self.cells.grow(len(self.template_ids))
        self.detector.grow(len(self.template_ids))

    def set_status(self, template_id: str, status: TemplateStatus | str) -> None:
        """Record a template's lifecycle status; deprecated templates are never selected."""
        self.add_templates([template_id])
        self.status[template_id] = TemplateStatus(status)
        self._cache = None

    def deprecate(self, template_id: str) -> None:
        self.set_status(template_id, TemplateStatus.DEPRECATED)

    # -- A/B tests ---------------------------------------------------------------------------------
    def add_test(self, test: ABTest) -> None:
        """Serve ``test`` from now on (its variants become known templates)."""
        self.add_templates(test.variants)
        self.tests[test.test_id] = test

    def running_tests(self) -> list[ABTest]:
        return [t for t in self.tests.values() if t.running]

    # -- selection ---------------------------------------------------------------------------------
    def select_template(self, context: dict[str, Any] | None = None, at: datetime | None = None) -> str:
        """The template to send next in ``context`` (keys: segment, position, prospect_id/deal_id, …)."""
        return self.explain_selection(context, at).template_id

    def explain_selection(
        self, context: dict[str, Any] | None = None, at: datetime | None = None
    ) -> Selection:
        """Like :meth:`select_template`, with where the choice came from and why."""
        context = context or {}
        now = _ts(at or self._clock())
        eligible, bandit_ok, idx = self._eligible(context)
        for test in self.tests.values():
            if test.applies_to(context):
                unit = unit_of(context)
                first_touch = context.get("position") in (None, 1)
                chosen = test.assign(unit, self.rng, eligible, count=first_touch)
                if chosen is not None:
                    how = f"sticky by {unit!r}" if unit else "random, no prospect_id/deal_id in context"
                    return Selection(chosen, "abtest", f"A/B test {test.test_id} assigned {chosen} ({how})")
        if not bandit_ok:
            raise EngineError("no selectable template: every candidate is deprecated or under test")
        keys = cell_keys(context)
        alpha, beta = self.cells.posterior(keys, now, self._strengths())
        draws = self.rng.beta(alpha[idx], beta[idx])
        boosted: list[int] = []
        if self.boost_until:  # few entries: look them up rather than scanning every template
            position = {t: k for k, t in enumerate(bandit_ok)}
            boosted = [position[t] for t, until in self.boost_until.items() if until > now and t in position]
            draws[boosted] *= 1.0 + self.options["boost"]
        best = int(np.argmax(draws))
        chosen = bandit_ok[best]
        i = self._index[chosen]
        mean = alpha[i] / (alpha[i] + beta[i])
        why = (
            f"Thompson draw {draws[best]:.3f} highest of {len(bandit_ok)} "
            f"(posterior mean {mean:.3f}, {alpha[i] + beta[i]:.0f} pseudo-deals in {keys[-1]})"
        )
        if best in boosted:
            why += "; boosted by a recent positive reply"
        return Selection(chosen, "bandit", why)

    def _eligible(self, context: dict[str, Any]) -> tuple[list[str], list[str], np.ndarray]:
        """Templates this context may receive, those the bandit may serve, and their indices.

        In a stable order (a set would make the draws depend on the interpreter's hash seed); cached
        until a status or template changes, since selection is on the hot path.
        """
        candidates = context.get("candidates")
        if candidates is None and self._cache is not None:
            return self._cache
        pool = self.template_ids if candidates is None else [t for t in candidates if t in self._index]
        eligible = [t for t in dict.fromkeys(pool) if self.status[t] is not TemplateStatus.DEPRECATED]
        served = [t for t in eligible if self.status[t] in _SERVED]
        idx = np.fromiter((self._index[t] for t in served), dtype=np.intp, count=len(served))
        if candidates is None:
            self._cache = (eligible, served, idx)
        return eligible, served, idx

    def _strengths(self) -> tuple[float, float, float]:
        o = self.options
        return o["prior_strength"], o["segment_strength"], o["position_strength"]

    # -- learning ----------------------------------------------------------------------------------
    def update_on_outcome(
        self, template_id: str, won: bool, context: dict[str, Any] | None = None, at: datetime | None = None
    ) -> bool:
        """Learn from one closed deal that received ``template_id``; False if already learned.

        With a ``deal_id`` in the context each deal × template counts once (retries and replays are
        ignored for ``dedupe_days``).
        """
        context = context or {}
        self.add_templates([template_id])
        now = _ts(at or self._clock())
        deal_id = context.get("deal_id")
        if deal_id not in (None, "") and not self.ledger.first_time(str(deal_id), template_id, now):
            return False
        i = self._index[template_id]
        reference, evidence = self.cells.global_mean(i, self.options["prior_strength"])
        self.cells.add(cell_keys(context), i, won, now)
        for test in self.tests.values():
            if test.applies_to(context):
                test.record(template_id, won, unit_of(context))
        if self.options["change_threshold"] and evidence >= self.options["change_min_evidence"]:
            alarm = self.detector.observe(i, won, reference)
            if alarm is not None:
                self.cells.restart(i, alarm)
                self.changes.append(
                    {
                        "template_id": template_id,
                        "at": datetime.fromtimestamp(now, UTC).isoformat(),
                        "before": round(reference, 4),
                        "after_wins": alarm[0],
                        "after_losses": alarm[1],
                    }
                )
                del self.changes[:-50]  # a bounded log, not a growing history
        return True

    def on_response(
        self,
        template_id: str,
        sentiment: float,
        meeting_intent: bool,
        context: dict[str, Any] | None = None,  # noqa: ARG002 (kept for a per-segment boost later)
        at: datetime | None = None,
    ) -> bool:
        """Boost a template for ``boost_hours`` after a strongly positive reply; True if boosted."""
        if not meeting_intent or sentiment < self.options["boost_min_sentiment"]:
            return False
        self.add_templates([template_id])
        now = _ts(at or self._clock())
        self.boost_until = {t: u for t, u in self.boost_until.items() if u > now}  # drop expired boosts
        until = now + self.options["boost_hours"] * 3600.0
        self.boost_until[template_id] = max(until, self.boost_until.get(template_id, 0.0))
        return True

    def summary(
        self, context: dict[str, Any] | None = None, at: datetime | None = None
    ) -> list[dict[str, Any]]:
        """Posterior mean and pseudo-counts per template in a context's most specific cell."""
        now = _ts(at or self._clock())
        alpha, beta = self.cells.posterior(cell_keys(context or {}), now, self._strengths())
        return [
            {
                "template_id": t,
                "status": self.status[t].value,
                "mean": float(alpha[i] / (alpha[i] + beta[i])),
                "pseudo_deals": float(alpha[i] + beta[i]),
            }
            for t, i in self._index.items()
        ]

    # -- JSON state --------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Everything needed to continue exactly where this optimizer is, as plain JSON types."""
        rng = self.rng.bit_generator.state
        return {
            "version": 1,
            "options": dict(self.options),
            "templates": [{"id": t, "status": self.status[t].value} for t in self.template_ids],
            "cells": self.cells.to_state(),
            "detector": self.detector.to_state(),
            "boost_until": dict(self.boost_until),
            "tests": {k: t.to_state() for k, t in self.tests.items()},
            "changes": list(self.changes),
            "learned": self.ledger.to_state(),
            "rng": {
                "bit_generator": rng["bit_generator"],
                "state": {k: str(v) for k, v in rng["state"].items()},
                "has_uint32": rng["has_uint32"],
                "uinteger": str(rng["uinteger"]),
            },
        }

    @classmethod
    def from_state(
        cls, state: dict[str, Any], *, clock: Callable[[], datetime] | None = None
    ) -> ContinuousOptimizer:
        """Rebuild an optimizer saved with :meth:`to_state` (including its random-number state)."""
        if state.get("version") != 1:
            raise EngineError(f"unsupported optimizer state version {state.get('version')!r}")
        opt = cls([t["id"] for t in state["templates"]], seed=0, clock=clock, **state["options"])
        for t in state["templates"]:
            opt.set_status(t["id"], t["status"])
        opt.cells.load_state(state["cells"])
        opt.detector.load_state(state["detector"])
        opt.boost_until = {k: float(v) for k, v in state["boost_until"].items()}
        opt.tests = {k: ABTest.from_state(v) for k, v in state.get("tests", {}).items()}
        opt.changes = list(state.get("changes", []))
        opt.ledger.load_state(state.get("learned", {}))
        rng = state["rng"]
        opt.rng.bit_generator.state = {
            "bit_generator": rng["bit_generator"],
            "state": {k: int(v) for k, v in rng["state"].items()},
            "has_uint32": rng["has_uint32"],
            "uinteger": int(rng["uinteger"]),
        }
        return opt
