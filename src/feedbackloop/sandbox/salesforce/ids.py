"""Salesforce-style record ids: 15-character case-sensitive ids with the 18-character checksum suffix.

Ids derived from world ids are deterministic (same world, same ids, every run), so tests and the demo
can name records; ids of records created through the API come from a counter in a separate "pod" so
the two never collide.
"""

from __future__ import annotations

import hashlib
import itertools
import threading

__all__ = ["KEY_PREFIXES", "IdFactory", "derived_id", "is_salesforce_id", "to_15", "to_18"]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

#: Key prefixes of the emulated objects (the real ones where known).
KEY_PREFIXES: dict[str, str] = {
    "Account": "001",
    "Contact": "003",
    "User": "005",
    "Opportunity": "006",
    "OpportunityHistory": "008",
    "Organization": "00D",
    "OpportunityCompetitor": "00J",
    "OpportunityContactRole": "00K",
    "CustomField": "00N",
    "EmailTemplate": "00X",
    "CustomObject": "01I",
    "OpportunityStage": "01J",
    "QueryLocator": "01g",
    "EmailMessage": "02s",
    "OutboundAction": "04k",
    "OutboundNotification": "04l",
    "BulkJob": "750",
    "ActionCadence": "77C",
    "ActionCadenceStep": "77D",
    "ActionCadenceTracker": "77T",
    "ActionCadenceStepTracker": "77S",
}


def _base62(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, rest = divmod(number, 62)
        chars.append(_BASE62[rest])
    return "".join(reversed(chars))


def to_18(id15: str) -> str:
    """Append Salesforce's case-checksum suffix: one character per 5-character chunk."""
    if len(id15) == 18:
        return id15
    suffix = ""
    for chunk in range(3):
        bits = 0
        for i, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << i
        suffix += _SUFFIX[bits]
    return id15 + suffix


def to_15(record_id: str) -> str:
    return record_id[:15]


def is_salesforce_id(value: str) -> bool:
    """True for a well-formed 15- or 18-character id whose checksum (if any) matches."""
    if len(value) not in (15, 18) or any(c not in _BASE62 for c in value):
        return False
    return len(value) == 15 or to_18(value[:15]) == value


def derived_id(prefix: str, key: str) -> str:
    """The 18-character id of the world record ``key`` of an object with key prefix ``prefix``."""
    digest = int.from_bytes(hashlib.blake2b(f"{prefix}:{key}".encode(), digest_size=8).digest(), "big")
    return to_18(prefix + "8d" + _base62(digest % 62**10, 10))


class IdFactory:
    """New ids for records created through the API (pod ``9z``, a counter per factory)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        with self._lock:
            number = next(self._counter)
        return to_18(prefix + "9z" + _base62(number, 10))
