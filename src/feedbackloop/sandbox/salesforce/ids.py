"""Salesforce-style record ids: 15-character case-sensitive ids with the 18-character checksum suffix.

Ids derived from world ids are deterministic (same world, same ids, every run), so tests and the demo
can name records; ids of records created through the API come from a counter in a separate "pod" so
the two never collide.
"""

from __future__ import annotations

import functools
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


_UPPER = str.maketrans({c: "1" if c.isupper() else "0" for c in _BASE62})


def to_18(id15: str) -> str:
    """Append Salesforce's case-checksum suffix: one character per 5-character chunk, whose bit i is set
    when character i of the chunk is an upper-case letter."""
    if len(id15) == 18:
        return id15
    bits = id15.translate(_UPPER)
    return id15 + "".join(_SUFFIX[int(bits[i + 4 : i - 1 if i else None : -1], 2)] for i in (0, 5, 10))


def to_15(record_id: str) -> str:
    return record_id[:15]


def is_salesforce_id(value: str) -> bool:
    """True for a well-formed 15- or 18-character id whose checksum (if any) matches."""
    if len(value) not in (15, 18) or any(c not in _BASE62 for c in value):
        return False
    return len(value) == 15 or to_18(value[:15]) == value


@functools.lru_cache(maxsize=1 << 21)
def derived_id(prefix: str, key: str) -> str:
    """The 18-character id of the world record ``key`` of an object with key prefix ``prefix``.

    Numeric keys (the world's ids) are scrambled by an invertible multiplication, other keys hashed.
    """
    if key.isdigit() and len(key) < 16:
        number = (int(key) * _MIX + _salt(prefix)) % 62**10
    else:
        number = int.from_bytes(hashlib.blake2b(f"{prefix}:{key}".encode(), digest_size=8).digest(), "big")
        number = number % 62**10
    return to_18(prefix + ("8d" if key.isdigit() else "8h") + _base62(number, 10))


_MIX = 0x9E3779B97F4A7C15  # odd and not a multiple of 31: coprime with 62**10, so distinct keys stay distinct


@functools.lru_cache(maxsize=256)
def _salt(prefix: str) -> int:
    return int.from_bytes(hashlib.blake2b(prefix.encode(), digest_size=8).digest(), "big")


class IdFactory:
    """New ids for records created through the API (pod ``9z``, a counter per factory)."""

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._lock = threading.Lock()

    def new(self, prefix: str) -> str:
        with self._lock:
            number = next(self._counter)
        return to_18(prefix + "9z" + _base62(number, 10))
