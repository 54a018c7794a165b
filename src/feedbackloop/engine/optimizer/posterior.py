"""Discounted pseudo-counts per context cell and the shrinkage posteriors built from them.

A cell is a context level: ``*`` (all deals), ``s=<segment>``, ``s=<segment>|p=<position>``. Each holds
one (wins, losses) row per template and the time it was last decayed; decay is multiplicative, so
decaying a whole cell when any of its rows changes is exact. Posteriors are built top-down: the global
Beta is centred on the pooled rate, each deeper level takes the level above's mean as its prior centre
with a bounded number of pseudo-deals.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["GLOBAL", "Cells", "cell_keys", "unit_of"]

GLOBAL = "*"
Array = NDArray[np.float64]


def cell_keys(context: dict[str, Any]) -> list[str]:
    """The cells a context belongs to, from the most general to the most specific."""
    keys = [GLOBAL]
    segment, position = context.get("segment"), context.get("position")
    if segment is not None:
        keys.append(f"s={segment}")
    if position is not None:
        keys.append(f"s={segment}|p={position}" if segment is not None else f"p={position}")
    return keys


def unit_of(context: dict[str, Any]) -> str | None:
    """The randomisation unit of a context: its prospect id, else its deal id."""
    for key in ("prospect_id", "deal_id"):
        value = context.get(key)
        if value not in (None, ""):
            return str(value)
    return None


class Cells:
    """Discounted (wins, losses) per template in every context cell seen so far."""

    def __init__(self, half_life: float | None, prior_mean: float | None = None) -> None:
        self.half_life = half_life  # seconds, or None for no discounting
        self.prior_mean = prior_mean  # the global prior's centre; None: the pooled rate of all templates
        self.n = 0
        self.counts: dict[str, Array] = {GLOBAL: np.zeros((0, 2))}
        self.times: dict[str, float] = {GLOBAL: float("-inf")}

    def grow(self, n: int) -> None:
        if n > self.n:
            for key, arr in self.counts.items():
                self.counts[key] = np.vstack([arr, np.zeros((n - self.n, 2))])
            self.n = n

    def _factor(self, key: str, now: float) -> float:
        last = self.times[key]
        if self.half_life is None or not np.isfinite(last) or now <= last:
            return 1.0
        return float(0.5 ** ((now - last) / self.half_life))

    def decayed(self, key: str, now: float) -> Array | None:
        arr = self.counts.get(key)
        if arr is None:
            return None
        f = self._factor(key, now)
        return arr if f == 1.0 else arr * f

    def add(self, keys: list[str], index: int, won: bool, now: float) -> None:
        """Count one outcome for template ``index`` in each of ``keys`` (decaying each cell first)."""
        for key in keys:
            if key not in self.counts:
                self.counts[key] = np.zeros((self.n, 2))
                self.times[key] = now
            f = self._factor(key, now)
            if f != 1.0:
                self.counts[key] *= f
            self.times[key] = max(self.times[key], now)
            self.counts[key][index, 0 if won else 1] += 1.0

    def restart(self, index: int, post_change: tuple[float, float]) -> None:
        """After a detected change: keep only the post-change outcomes of template ``index``."""
        for key, arr in self.counts.items():
            arr[index] = post_change if key == GLOBAL else 0.0

    def global_mean(self, index: int, prior_strength: float) -> tuple[float, float]:
        """A template's global posterior mean and its (discounted) number of outcomes."""
        g = self.counts[GLOBAL]
        pool = self._centre(g)
        w, lo = g[index]
        return float((prior_strength * pool + w) / (prior_strength + w + lo)), float(w + lo)

    def posterior(self, keys: list[str], now: float, strengths: tuple[float, ...]) -> tuple[Array, Array]:
        """Beta parameters of every template in the most specific of ``keys``."""
        g = self.decayed(GLOBAL, now)
        assert g is not None
        pool = self._centre(g)
        alpha = strengths[0] * pool + g[:, 0]
        beta = strengths[0] * (1.0 - pool) + g[:, 1]
        for level, key in enumerate(keys[1:], start=1):
            total = alpha + beta
            strength = np.minimum(strengths[min(level, len(strengths) - 1)], total)
            mean = alpha / total
            alpha, beta = strength * mean, strength * (1.0 - mean)
            c = self.decayed(key, now)
            if c is not None:
                alpha, beta = alpha + c[:, 0], beta + c[:, 1]
        return alpha, beta

    def _centre(self, g: Array) -> float:
        if self.prior_mean is not None:
            return self.prior_mean
        return float((g[:, 0].sum() + 1.0) / (g.sum() + 2.0))

    def to_state(self) -> dict[str, Any]:
        return {
            key: {"t": self.times[key] if np.isfinite(self.times[key]) else None, "counts": arr.tolist()}
            for key, arr in self.counts.items()
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.counts = {k: np.asarray(v["counts"], dtype=float).reshape(self.n, 2) for k, v in state.items()}
        self.times = {k: float("-inf") if v["t"] is None else float(v["t"]) for k, v in state.items()}
