"""Which deal × template outcomes the optimizer has learned recently, so each is counted once.

The unit of learning is a deal × template: a deal that received a template three times is one outcome,
and the same closed deal arriving twice (a webhook retry, a reconciliation sync, a rebuild from the
store followed by the live event) must not count twice. Keys are short hashes, and entries older than
the window are dropped, so the state stays bounded by the recent deal volume.
"""

from __future__ import annotations

import hashlib

__all__ = ["OutcomeLedger"]

_PRUNE_EVERY = 1024


class OutcomeLedger:
    """Recently learned deal × template keys with the time they were learned."""

    def __init__(self, window_days: float = 120.0) -> None:
        self.window = window_days * 86400.0
        self.seen: dict[str, float] = {}

    @staticmethod
    def key(deal_id: str, template_id: str) -> str:
        return hashlib.sha256(f"{deal_id}\x1f{template_id}".encode()).hexdigest()[:16]

    def first_time(self, deal_id: str, template_id: str, now: float) -> bool:
        """Record the outcome; False if it was already learned within the window."""
        k = self.key(deal_id, template_id)
        if k in self.seen:
            return False
        self.seen[k] = now
        if len(self.seen) % _PRUNE_EVERY == 0:
            self.prune(now)
        return True

    def prune(self, now: float) -> None:
        cutoff = now - self.window
        self.seen = {k: t for k, t in self.seen.items() if t >= cutoff}
