"""A small, transparent lexicon scorer for reply sentiment (the reply text itself is never stored).

Score = (positive hits − negative hits) / (positive hits + negative hits), in [-1, 1]; 0.0 when no word
of either list occurs. Phrases are matched before single words, so "not interested" counts once as
negative instead of also matching "interested". Readable on purpose: a sales-ops lead can see why a
reply scored as it did.
"""

from __future__ import annotations

import re

__all__ = ["NEGATIVE", "POSITIVE", "score_sentiment"]

POSITIVE = (
    "sounds great",
    "sounds good",
    "let's talk",
    "let's book",
    "happy to chat",
    "happy to",
    "meeting invite",
    "book a call",
    "schedule a demo",
    "interested",
    "interesting",
    "great",
    "yes",
    "love",
    "perfect",
    "excellent",
    "keen",
    "demo",
    "meeting",
)
NEGATIVE = (
    "not interested",
    "not the right time",
    "not a priority",
    "not the decision maker",
    "too expensive",
    "above our budget",
    "too busy",
    "don't really need",
    "don't need",
    "no need",
    "already use",
    "unsubscribe",
    "stop emailing",
    "remove me",
    "evaluating",
    "discount",
    "check with my boss",
    "sign-off",
    "never",
    "no",
    "not",
)


def _compile(terms: tuple[str, ...]) -> list[re.Pattern[str]]:
    ordered = sorted(terms, key=len, reverse=True)  # longest first: phrases win over their words
    return [re.compile(r"(?<![\w'])" + re.escape(t) + r"(?![\w'])", re.IGNORECASE) for t in ordered]


_POSITIVE = _compile(POSITIVE)
_NEGATIVE = _compile(NEGATIVE)


def _count(text: str, patterns: list[re.Pattern[str]]) -> tuple[int, str]:
    hits = 0
    for pattern in patterns:
        text, found = pattern.subn(" ", text)
        hits += found
    return hits, text


def score_sentiment(text: str | None) -> float | None:
    """Sentiment of one reply in [-1, 1]; None for no text."""
    if not text or not text.strip():
        return None
    negative, rest = _count(text, _NEGATIVE)
    positive, _ = _count(rest, _POSITIVE)
    total = positive + negative
    return 0.0 if total == 0 else round((positive - negative) / total, 3)
