"""Which deal × template outcomes the optimizer has learned recently, so each is counted once.

The unit of learning is a deal × template: a deal that received a template three times is one outcome,
and the same closed deal arriving twice (a webhook retry, a reconciliation sync, a rebuild from the
store followed by the live event) must not count twice. Keys are 48-bit hashes kept per day, and days
older than the window are dropped, so the state stays small (about 13 bytes of JSON per recent outcome).
"""

from __future__ import annotations

import hashlib

__all__ = ["OutcomeLedger"]

_KEY = 12  # hex characters: 48 bits; a collision among 10^5 recent outcomes has probability ~2e-5
_DAY = 86400.0


class OutcomeLedger:
    """Recently learned deal × template keys, bucketed by the day they were learned."""

    def __init__(self, window_days: float = 30.0) -> None:
        self.window_days = window_days
        self.days: dict[int, set[str]] = {}

    @staticmethod
    def key(deal_id: str, template_id: str) -> str:
        return hashlib.sha256(f"{deal_id}\x1f{template_id}".encode()).hexdigest()[:_KEY]

    def __len__(self) -> int:
        return sum(len(keys) for keys in self.days.values())

    def first_time(self, deal_id: str, template_id: str, now: float) -> bool:
        """Record the outcome; False if it was already learned within the window."""
        k = self.key(deal_id, template_id)
        if any(k in keys for keys in self.days.values()):
            return False
        day = int(now // _DAY)
        if self.days:
            # an outcome learned "in the past" (a late, replayed event) is remembered for the full window
            # from the newest day seen, not dropped at once, so a second replay is still recognised
            day = max(day, max(self.days) - int(self.window_days) + 1)
        if day not in self.days:
            self.days[day] = set()
            self.prune(day)
        self.days[day].add(k)
        return True

    def prune(self, today: int) -> None:
        """Forget days older than the window (relative to the newest day seen)."""
        newest = max([today, *self.days])
        self.days = {d: keys for d, keys in self.days.items() if d > newest - self.window_days}

    def to_state(self) -> dict[str, str]:
        return {str(d): "".join(sorted(keys)) for d, keys in sorted(self.days.items())}

    def load_state(self, state: dict[str, str]) -> None:
        self.days = {
            int(d): {packed[i : i + _KEY] for i in range(0, len(packed), _KEY)} for d, packed in state.items()
        }
