"""Per-tenant request limiters, shared by every connector instance of a tenant in this process.

A sliding window: at most ``limit`` acquisitions in any ``period`` seconds. HubSpot: 110 per 10 s for
the app and 5 per second for search; Salesforce: a share of the daily quota is guarded separately.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["SlidingWindowLimiter", "limiter_for"]


class SlidingWindowLimiter:
    """Blocks in :meth:`acquire` until a request may go without breaking the window."""

    def __init__(
        self,
        limit: int,
        period: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or period <= 0:
            raise ValueError("limit must be >= 1 and period > 0")
        self.limit, self.period = limit, period
        self._clock, self._sleep = clock, sleep
        self._stamps: deque[float] = deque()
        self._lock = threading.Lock()
        self.waited = 0.0

    def acquire(self) -> None:
        while True:
            with self._lock:
                now = self._clock()
                while self._stamps and now - self._stamps[0] >= self.period:
                    self._stamps.popleft()
                if len(self._stamps) < self.limit:
                    self._stamps.append(now)
                    return
                delay = self.period - (now - self._stamps[0]) + 1e-3
            self.waited += delay
            self._sleep(delay)


_registry: dict[tuple[str, str], SlidingWindowLimiter] = {}
_registry_lock = threading.Lock()


def limiter_for(tenant_key: str, name: str, limit: int, period: float) -> SlidingWindowLimiter:
    """The process-wide limiter for ``(tenant_key, name)``, created on first use."""
    with _registry_lock:
        key = (tenant_key, name)
        found = _registry.get(key)
        if found is None or (found.limit, found.period) != (limit, period):
            found = _registry[key] = SlidingWindowLimiter(limit, period)
        return found
