"""Call counting and fault injection shared by the sandbox CRMs (`/_sandbox/stats`, `/_sandbox/faults`)."""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from flask import request

__all__ = ["FAULT_KINDS", "CallStats", "FaultInjector", "endpoint_key"]

FAULT_KINDS = ("429", "500", "reset", "slow")


class CallStats:
    """Thread-safe counts of API calls by ``"METHOD /path-template"`` and of rate-limited answers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_endpoint: Counter[str] = Counter()
        self._rate_limited = 0

    def record(self, endpoint: str, *, rate_limited: bool = False) -> None:
        with self._lock:
            self._by_endpoint[endpoint] += 1
            if rate_limited:
                self._rate_limited += 1

    def snapshot(self) -> dict[str, Any]:
        """``{"total": N, "by_endpoint": {"METHOD /path": N}, "rate_limited": N}``."""
        with self._lock:
            return {
                "total": sum(self._by_endpoint.values()),
                "by_endpoint": dict(sorted(self._by_endpoint.items())),
                "rate_limited": self._rate_limited,
            }

    def reset(self) -> None:
        with self._lock:
            self._by_endpoint.clear()
            self._rate_limited = 0


@dataclass
class FaultInjector:
    """Decides, per request, whether to inject a fault and which; seeded so test runs repeat."""

    seed: int = 0
    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    slow_seconds: float = 1.5
    _rng: np.random.Generator = field(init=False, repr=False)
    _lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    injected: Counter[str] = field(init=False, default_factory=Counter)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def configure(
        self, rate: float, kinds: list[str] | tuple[str, ...] | None = None, slow_seconds: float | None = None
    ) -> None:
        """Set the fault rate (0..1) and kinds; unknown kinds are a ValueError for the admin API to report."""
        if not 0.0 <= rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        chosen = tuple(kinds) if kinds else FAULT_KINDS
        unknown = sorted(set(chosen) - set(FAULT_KINDS))
        if unknown:
            raise ValueError(f"unknown fault kinds {unknown}; known: {list(FAULT_KINDS)}")
        with self._lock:
            self.rate, self.kinds = rate, chosen
            if slow_seconds is not None:
                self.slow_seconds = slow_seconds

    def draw(self) -> str | None:
        """The fault to inject into this request, or None."""
        with self._lock:
            if self.rate <= 0.0 or self._rng.random() >= self.rate:
                return None
            kind = str(self.kinds[int(self._rng.integers(len(self.kinds)))])
            self.injected[kind] += 1
            return kind

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"rate": self.rate, "kinds": list(self.kinds), "injected": dict(self.injected)}


def endpoint_key(filled: tuple[str, ...] = ()) -> str:
    """The current request as ``METHOD /path-template``, the key of :class:`CallStats`.

    URL parameters named in ``filled`` keep their value (``POST /crm/v3/objects/deals/search``,
    ``GET …/sobjects/Opportunity/describe``); the others stay placeholders (``{dealId}``).
    """
    rule = request.url_rule
    if rule is None:
        return f"{request.method} {request.path}"
    args = request.view_args or {}

    def fill(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[-1]
        return str(args[name]) if name in filled and name in args else "{" + name + "}"

    return f"{request.method} {re.sub(r'<([^>]+)>', fill, rule.rule)}"
