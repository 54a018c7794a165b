"""HubSpot's rate limits (reference §7): a rolling 110 requests / 10 s bucket and search at 5 / s."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Decision", "RollingLimiter"]


@dataclass(frozen=True)
class Decision:
    """Whether one request may pass, and the numbers for the ``X-HubSpot-RateLimit-*`` headers."""

    allowed: bool
    limit: int
    remaining: int
    window_ms: int


class RollingLimiter:
    """At most ``limit`` requests in any rolling ``window`` seconds; refused requests do not count."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()

    def take(self) -> Decision:
        now = self.clock()
        with self._lock:
            while self._hits and self._hits[0] <= now - self.window:
                self._hits.popleft()
            allowed = len(self._hits) < self.limit
            if allowed:
                self._hits.append(now)
            remaining = max(0, self.limit - len(self._hits))
        return Decision(allowed, self.limit, remaining, int(self.window * 1000))

    def reset(self) -> None:
        with self._lock:
            self._hits.clear()
