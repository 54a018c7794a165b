"""A/B tests of templates with always-valid inference, sticky assignment and a sample-ratio check.

Sales teams look at running tests every day. A fixed-horizon test checked daily has a false-positive
rate far above its nominal level, so every challenger is compared with the control by a mixture
sequential probability ratio test (mSPRT, Johari et al. 2017, "Always valid inference"): the difference
of the two win rates is approximately normal with variance ``v`` (plug-in, from the observed rates);
against a ``N(0, tau²)`` mixture of alternatives the likelihood ratio is

    Λ = sqrt(v / (v + tau²)) · exp(θ̂² tau² / (2 v (v + tau²)))

and ``1/Λ`` (made monotone) is a p-value that stays valid however often it is looked at. With several
challengers the level is split (Bonferroni). Assignment is sticky: a SHA-256 of the test id and the
prospect or deal id picks the variant by the allocation, so a prospect sees the same variant on every
step and after restarts. A chi-square test of the assignment counts against the allocation flags a
sample-ratio mismatch (broken assignment or logging), which halts the test without promoting anything.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from feedbackloop.errors import EngineError

__all__ = [
    "ABTest",
    "TestStatus",
    "msprt_lambda",
    "sticky_fraction",
]

TestStatus = Literal["running", "concluded", "inconclusive", "srm", "stopped"]

#: A sample-ratio mismatch is flagged below this chi-square p-value (and only with enough assignments).
SRM_ALPHA = 0.001
SRM_MIN_ASSIGNMENTS = 100


def msprt_lambda(
    wins_a: ArrayLike, n_a: ArrayLike, wins_b: ArrayLike, n_b: ArrayLike, tau: float
) -> NDArray[np.float64]:
    """The mSPRT mixture likelihood ratio for ``p_b - p_a`` (vectorised; 1 where there is no data)."""
    wa, na, wb, nb = (np.asarray(x, dtype=float) for x in (wins_a, n_a, wins_b, n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        pa, pb = wa / na, wb / nb
        # Continuity floor: with 0 or n wins the plug-in variance would be 0 and Λ infinite.
        pa_v = np.clip(pa, 0.5 / np.maximum(na, 1), 1 - 0.5 / np.maximum(na, 1))
        pb_v = np.clip(pb, 0.5 / np.maximum(nb, 1), 1 - 0.5 / np.maximum(nb, 1))
        v = pa_v * (1 - pa_v) / na + pb_v * (1 - pb_v) / nb
        t2 = tau * tau
        log_lam = 0.5 * np.log(v / (v + t2)) + (pb - pa) ** 2 * t2 / (2 * v * (v + t2))
    out = np.exp(np.minimum(log_lam, 700.0))
    return np.where((na > 0) & (nb > 0), out, 1.0)


def _confidence_radius(v: float, tau: float, alpha: float) -> float:
    """Half-width of the always-valid confidence interval {θ : Λ(θ) < 1/α} around θ̂."""
    t2 = tau * tau
    return math.sqrt(v * (v + t2) / t2 * (2 * math.log(1 / alpha) + math.log((v + t2) / v)))


def sticky_fraction(test_id: str, unit_id: str) -> float:
    """A stable uniform number in [0, 1) for (test, unit): same input, same number, on every machine."""
    digest = hashlib.sha256(f"{test_id}\x1f{unit_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass
class ABTest:
    """A running or finished test of template variants; the first variant is the control."""

    test_id: str
    variants: list[str]
    allocation: list[float]
    started_at: datetime
    min_sample: int = 100
    max_days: float = 42.0
    alpha: float = 0.05
    tau: float = 0.1
    segment: str | None = None
    traffic: float = 1.0
    status: TestStatus = "running"
    ended_at: datetime | None = None
    winner: str | None = None
    reason: str | None = None
    assignments: list[int] = field(default_factory=list)
    wins: list[int] = field(default_factory=list)
    losses: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        k = len(self.variants)
        if k < 2 or len(set(self.variants)) != k:
            raise EngineError("an A/B test needs at least two distinct variants")
        if len(self.allocation) != k or min(self.allocation) <= 0:
            raise EngineError("the allocation needs one positive weight per variant")
        total = float(sum(self.allocation))
        self.allocation = [a / total for a in self.allocation]
        for name in ("assignments", "wins", "losses"):
            if not getattr(self, name):
                setattr(self, name, [0] * k)
        if self.min_sample < 1 or self.max_days <= 0 or not 0 < self.alpha < 1 or self.tau <= 0:
            raise EngineError("min_sample, max_days, alpha and tau must be positive (alpha below 1)")
        if not 0 < self.traffic <= 1:
            raise EngineError("traffic must be a share of prospects in (0, 1]")

    # -- assignment and recording ------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self.status == "running"

    def applies_to(self, context: dict[str, Any]) -> bool:
        return self.running and (self.segment is None or context.get("segment") == self.segment)

    def _pick(self, u_traffic: float, u_variant: float) -> int | None:
        if u_traffic >= self.traffic:
            return None
        index = int(np.searchsorted(np.cumsum(self.allocation), u_variant, side="right"))
        return min(index, len(self.variants) - 1)

    def variant_for(self, unit_id: str) -> str | None:
        """The variant a prospect or deal is assigned to (None: outside the test's traffic share)."""
        index = self._pick(
            sticky_fraction(self.test_id + ":traffic", unit_id), sticky_fraction(self.test_id, unit_id)
        )
        return None if index is None else self.variants[index]

    def assign(
        self, unit_id: str | None, rng: np.random.Generator, eligible: list[str], *, count: bool = True
    ) -> str | None:
        """The variant for a prospect or deal (sticky when ``unit_id`` is given, else drawn).

        None when the unit is outside the test's ``traffic`` share or its variant is not eligible.
        ``count`` adds the assignment to the sample-ratio check: count each unit once (its first touch),
        since repeated touches of one prospect are not independent draws.
        """
        if unit_id:
            variant = self.variant_for(unit_id)
            index = None if variant is None else self.variants.index(variant)
        else:
            index = self._pick(float(rng.random()) if self.traffic < 1.0 else 0.0, float(rng.random()))
        if index is None or self.variants[index] not in eligible:
            return None
        if count:
            self.assignments[index] += 1
        return self.variants[index]

    def record(self, template_id: str, won: bool, unit_id: str | None) -> bool:
        """Count the closed outcome of a unit the test assigned ``template_id``; False otherwise.

        Outcomes without a prospect or deal id, or of units served by the bandit (outside the traffic
        share, or given the template outside the test), are not the test's: counting them would bias it.
        """
        if not self.running or not unit_id or self.variant_for(unit_id) != template_id:
            return False
        i = self.variants.index(template_id)
        if won:
            self.wins[i] += 1
        else:
            self.losses[i] += 1
        return True

    # -- inference ---------------------------------------------------------------------------------
    def srm_pvalue(self) -> float | None:
        """Chi-square p-value of assignments against the allocation (None below the minimum count)."""
        total = sum(self.assignments)
        if total < SRM_MIN_ASSIGNMENTS:
            return None
        expected = np.asarray(self.allocation) * total
        return float(stats.chisquare(self.assignments, expected).pvalue)

    def comparisons(self) -> list[dict[str, Any]]:
        """Each challenger against the control: rates, difference, Λ, always-valid p and interval."""
        level = self.alpha / (len(self.variants) - 1)
        wa, na = self.wins[0], self.wins[0] + self.losses[0]
        rows = []
        for i in range(1, len(self.variants)):
            wb, nb = self.wins[i], self.wins[i] + self.losses[i]
            lam = float(msprt_lambda(wa, na, wb, nb, self.tau))
            row: dict[str, Any] = {
                "variant": self.variants[i],
                "control": self.variants[0],
                "n_control": na,
                "n_variant": nb,
                "rate_control": wa / na if na else None,
                "rate_variant": wb / nb if nb else None,
                "difference": wb / nb - wa / na if na and nb else None,
                "likelihood_ratio": lam,
                "p_value": min(1.0, 1.0 / lam),
                "significant": lam >= 1.0 / level,
                "interval": None,
            }
            if na and nb:
                pa = min(max(wa / na, 0.5 / na), 1 - 0.5 / na)
                pb = min(max(wb / nb, 0.5 / nb), 1 - 0.5 / nb)
                v = pa * (1 - pa) / na + pb * (1 - pb) / nb
                r = _confidence_radius(v, self.tau, level)
                row["interval"] = [row["difference"] - r, row["difference"] + r]
            rows.append(row)
        return rows

    def evaluate(self, at: datetime) -> TestStatus:
        """Check the test (safe to call daily) and end it when it is decided, broken or out of time."""
        if not self.running:
            return self.status
        srm = self.srm_pvalue()
        if srm is not None and srm < SRM_ALPHA:
            return self._end(at, "srm", None, f"sample-ratio mismatch (chi-square p={srm:.2g})")
        rows = self.comparisons()
        enough = min(w + lo for w, lo in zip(self.wins, self.losses, strict=True)) >= self.min_sample
        better = [r for r in rows if r["significant"] and r["difference"] > 0]
        if enough and better:
            best = max(better, key=lambda r: r["rate_variant"])
            return self._end(
                at,
                "concluded",
                best["variant"],
                f"beats control by {best['difference']:+.3f} (p<{best['p_value']:.3g})",
            )
        if enough and all(r["significant"] and r["difference"] < 0 for r in rows):
            return self._end(at, "concluded", self.variants[0], "control beats every challenger")
        if at - self.started_at >= timedelta(days=self.max_days):
            return self._end(at, "inconclusive", None, f"no decision within {self.max_days:g} days")
        return "running"

    def stop(self, at: datetime, reason: str = "stopped by a user") -> None:
        if self.running:
            self._end(at, "stopped", None, reason)

    def _end(self, at: datetime, status: TestStatus, winner: str | None, reason: str) -> TestStatus:
        self.status, self.ended_at, self.winner, self.reason = status, at, winner, reason
        return status

    # -- JSON --------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat()
        data["ended_at"] = self.ended_at.isoformat() if self.ended_at else None
        return data

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ABTest:
        data = dict(state)
        data["started_at"] = datetime.fromisoformat(data["started_at"])
        data["ended_at"] = datetime.fromisoformat(data["ended_at"]) if data.get("ended_at") else None
        return cls(**data)
