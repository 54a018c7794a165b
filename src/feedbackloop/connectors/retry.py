"""The one retry policy: 429, 5xx, timeouts and connection resets, with capped exponential backoff and jitter.

A server's explicit wait (``Retry-After``, or HubSpot's ``policyName``: 10 s per attempt for the
ten-secondly window, 1 s for search's secondly limit) wins over the computed backoff. Everything else
(4xx but 429, auth errors) fails at once. Built on tenacity.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_random_exponential

__all__ = ["TRANSIENT_STATUSES", "RetryPolicy", "Transient"]

T = TypeVar("T")
log = logging.getLogger(__name__)

TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Transient:
    """Why a failure is worth retrying, and how long the server asked us to wait (if it did)."""

    reason: str
    wait: float | None = None


Classifier = Callable[[BaseException], Transient | None]


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry; ``timeout`` is the per-request timeout connectors use."""

    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 30.0

    def call(
        self,
        fn: Callable[[], T],
        *,
        classify: Classifier,
        what: str = "request",
        sleep: Callable[[float], None] = time.sleep,
    ) -> T:
        """Run ``fn``, retrying transient failures; the last failure is re-raised unchanged."""
        backoff = wait_random_exponential(multiplier=self.base_delay, max=self.max_delay)

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            transient = classify(exc) if exc else None
            delay = transient.wait if transient and transient.wait is not None else backoff(state)
            delay = min(float(delay), self.max_delay)
            log.info("retrying %s in %.2fs (attempt %d): %s", what, delay, state.attempt_number, transient)
            return delay

        retrying = Retrying(
            stop=stop_after_attempt(self.max_attempts),
            wait=wait,
            retry=retry_if_exception(lambda e: classify(e) is not None),
            sleep=sleep,
            reraise=True,
        )
        return retrying(fn)
