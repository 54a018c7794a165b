"""Change detection for template win rates: a two-sided Bernoulli CUSUM per template.

Discounting alone forgets slowly and evenly; a CUSUM notices an abrupt drop (or rise) within a few
dozen outcomes and lets the optimizer replace the stale history with the data since the change. The
reference rate is the template's current posterior mean; the alternatives are that rate shifted by
``shift`` (relative) down and up. The log-likelihood ratio is accumulated and floored at zero; when it
crosses ``threshold`` the outcomes since it last left zero are the post-change estimate (the classic
CUSUM change-point estimate).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["CusumDetector"]

_EPS = 1e-3


@dataclass
class CusumDetector:
    """Two-sided CUSUM statistics, one per template (arrays indexed like the optimizer's templates)."""

    n_templates: int
    shift: float = 0.5
    threshold: float = 10.0
    score: np.ndarray = field(init=False)  # (T, 2): down, up
    run: np.ndarray = field(init=False)  # (T, 2, 2): [side][wins, losses] since the score left zero

    def __post_init__(self) -> None:
        self.score = np.zeros((self.n_templates, 2))
        self.run = np.zeros((self.n_templates, 2, 2))

    def grow(self, n_templates: int) -> None:
        """Make room for newly added templates."""
        extra = n_templates - self.n_templates
        if extra > 0:
            self.score = np.vstack([self.score, np.zeros((extra, 2))])
            self.run = np.concatenate([self.run, np.zeros((extra, 2, 2))])
            self.n_templates = n_templates

    def observe(self, index: int, won: bool, reference: float) -> tuple[float, float] | None:
        """Add one outcome; on an alarm return the post-change (wins, losses) and reset the template."""
        p0 = min(max(reference, _EPS), 1 - _EPS)
        alternatives = (p0 * (1 - self.shift), min(p0 * (1 + self.shift), 1 - _EPS))
        for side, p1 in enumerate(alternatives):
            llr = math.log(p1 / p0) if won else math.log((1 - p1) / (1 - p0))
            if self.score[index, side] == 0.0:
                self.run[index, side] = 0.0
            self.score[index, side] = max(0.0, self.score[index, side] + llr)
            self.run[index, side, 0 if won else 1] += 1.0
            if self.score[index, side] > self.threshold:
                wins, losses = self.run[index, side]
                self.reset(index)
                return float(wins), float(losses)
        return None

    def reset(self, index: int) -> None:
        self.score[index] = 0.0
        self.run[index] = 0.0

    def to_state(self) -> dict[str, Any]:
        return {"score": self.score.tolist(), "run": self.run.tolist()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.score = np.asarray(state["score"], dtype=float).reshape(self.n_templates, 2)
        self.run = np.asarray(state["run"], dtype=float).reshape(self.n_templates, 2, 2)
