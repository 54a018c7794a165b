"""A transparent keyword taxonomy of sales objections, and the finder used on reply texts.

The lists are deliberately plain: a sales-ops lead should be able to read why a reply was tagged
"price". Matching is case-insensitive on word boundaries (a keyword ending in ``*`` matches any word
that starts with it). Categories come back in taxonomy order, each at most once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = ["OBJECTION_CATEGORIES", "TAXONOMY", "find_objections", "parse_objections"]

#: category -> keywords and phrases that signal it.
TAXONOMY: Mapping[str, tuple[str, ...]] = {
    "price": (
        "price*",
        "pricing",
        "too expensive",
        "expensive",
        "cost*",
        "budget*",
        "afford*",
        "cheaper",
        "discount*",
        "out of our range",
    ),
    "timing": (
        "not now",
        "not right now",
        "bad time",
        "next quarter",
        "next year",
        "later this year",
        "timing",
        "reach out later",
        "circle back",
        "revisit",
        "too busy",
        "no bandwidth",
        "not a good time",
    ),
    "competitor": (
        "competitor*",
        "already use",
        "already using",
        "already work with",
        "another vendor",
        "current vendor",
        "current provider",
        "current solution",
        "evaluating",
        "other vendor*",
        "different vendor",
        "went with",
        "signed with",
        "under contract",
        "locked in",
        "alternative*",
    ),
    "authority": (
        "not the right person",
        "not my decision",
        "decision maker",
        "my boss",
        "my manager",
        "need approval",
        "sign off",
        "sign-off",
        "procurement",
        "legal team",
        "check with",
        "loop in",
    ),
    "need": (
        "not interested",
        "no need",
        "don't need",
        "don't really need",
        "handle this",
        "spreadsheet*",
        "in-house",
        "in house",
        "do not need",
        "not a priority",
        "not relevant",
        "not a fit",
        "happy with",
        "we're fine",
        "works fine",
        "no use case",
    ),
    "security": (
        "security",
        "gdpr",
        "compliance",
        "privacy",
        "soc 2",
        "soc2",
        "data protection",
    ),
    "integration": (
        "integrat*",
        "doesn't support",
        "does not support",
        "missing feature",
        "feature*",
        "compatib*",
    ),
}

OBJECTION_CATEGORIES: tuple[str, ...] = tuple(TAXONOMY)


def _pattern(keyword: str) -> str:
    stem = keyword.rstrip("*")
    # Apostrophes in replies come straight or curly; spaces may be any whitespace run.
    body = re.escape(stem).replace("'", "['’]").replace(r"\ ", r"\s+")
    return rf"\b{body}\w*" if keyword.endswith("*") else rf"\b{body}\b"


_COMPILED: Mapping[str, re.Pattern[str]] = {
    category: re.compile("|".join(_pattern(k) for k in keywords), re.IGNORECASE)
    for category, keywords in TAXONOMY.items()
}


def find_objections(text: str | None) -> tuple[str, ...]:
    """The objection categories a reply text raises, in taxonomy order (empty for no text)."""
    if not text:
        return ()
    return tuple(category for category, rx in _COMPILED.items() if rx.search(text))


def parse_objections(cell: object) -> tuple[str, ...]:
    """Categories from a stored ``objections`` cell ("price,timing"; None/NaN/"" mean none)."""
    if not isinstance(cell, str):
        if isinstance(cell, Iterable) and not isinstance(cell, bytes):
            return tuple(str(c).strip().lower() for c in cell if str(c).strip())
        return ()
    return tuple(dict.fromkeys(p.strip().lower() for p in cell.split(",") if p.strip()))
