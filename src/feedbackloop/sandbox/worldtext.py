"""Names, subjects, bodies and reply texts for the simulated sales world.

Reply texts carry objections in plain words (price, timing, competitor, authority, need) so that the
engine's keyword taxonomy has something real to find; which categories a reply carries is known truth.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "COMPETITORS",
    "INDUSTRIES",
    "LOSS_REASONS",
    "OBJECTION_PHRASES",
    "POSITIVE_PHRASES",
    "company_names",
    "person_names",
    "reply_texts",
    "template_texts",
]

INDUSTRIES = (
    "Software",
    "Financial Services",
    "Healthcare",
    "Manufacturing",
    "Retail",
    "Logistics",
    "Education",
    "Media",
)
COMPETITORS = ("Outreach", "Salesloft", "Apollo", "Gong")
#: Loss reasons and, for each, the objection category a prospect most likely raised before it.
LOSS_REASONS = {
    "Price too high": "price",
    "Bad timing": "timing",
    "Went with competitor": "competitor",
    "No decision maker": "authority",
    "No clear need": "need",
    "No budget": "price",
}
OBJECTION_PHRASES = {
    "price": ("this is too expensive for us", "the pricing is above our budget", "can you do a discount?"),
    "timing": ("not the right time, maybe next quarter", "we are too busy right now", "circle back in Q3"),
    "competitor": (
        "we already use Salesloft",
        "we are evaluating Outreach as well",
        "our current vendor does this",
    ),
    "authority": (
        "I need to check with my boss",
        "this needs sign-off from our VP",
        "I'm not the decision maker",
    ),
    "need": ("we don't really need this", "not a priority for us", "we handle this in spreadsheets fine"),
}
POSITIVE_PHRASES = (
    "Sounds great, let's book a call next week.",
    "Happy to chat, can we schedule a demo on Thursday?",
    "Interesting, send me a meeting invite.",
    "Yes, let's talk. Does Tuesday work for a call?",
)
NEUTRAL_PHRASES = ("Thanks for reaching out.", "Got it.", "Noted, thanks.")

_FIRST = (
    "Ava",
    "Ben",
    "Chloe",
    "Dan",
    "Eva",
    "Finn",
    "Grace",
    "Hugo",
    "Iris",
    "Jon",
    "Kara",
    "Liam",
    "Maya",
    "Noah",
)
_LAST = (
    "Adams",
    "Baker",
    "Chen",
    "Diaz",
    "Evans",
    "Fischer",
    "Garcia",
    "Hill",
    "Ito",
    "Jones",
    "Kim",
    "Lopez",
)
_CO_A = (
    "Blue",
    "North",
    "Bright",
    "Iron",
    "Silver",
    "Green",
    "Swift",
    "Prime",
    "Clear",
    "Bold",
    "Quiet",
    "Red",
)
_CO_B = (
    "Harbor",
    "Peak",
    "Field",
    "Works",
    "Labs",
    "Systems",
    "Logic",
    "Point",
    "Forge",
    "Wave",
    "Path",
    "Stone",
)
_HOOKS = ("pain point", "case study", "ROI", "quick question", "social proof", "breakup", "referral", "event")


def company_names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` company names and matching web domains."""
    a = np.asarray(_CO_A)[rng.integers(len(_CO_A), size=n)]
    b = np.asarray(_CO_B)[rng.integers(len(_CO_B), size=n)]
    idx = np.arange(n).astype(str)
    names = np.char.add(np.char.add(np.char.add(a, " "), b), np.char.add(" #", idx))
    domains = np.char.add(np.char.add(np.char.lower(np.char.add(a, b)), idx), ".example.com")
    return names, domains


def person_names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.asarray(_FIRST)[rng.integers(len(_FIRST), size=n)],
        np.asarray(_LAST)[rng.integers(len(_LAST), size=n)],
    )


def template_texts(n: int, positions: np.ndarray) -> tuple[list[str], list[str], list[str]]:
    """Names, subjects and bodies of ``n`` templates (bodies use HubSpot-style personalisation tokens)."""
    names, subjects, bodies = [], [], []
    for i in range(n):
        hook = _HOOKS[i % len(_HOOKS)]
        names.append(f"Step {positions[i]} · {hook} #{i + 1:02d}")
        subjects.append(f"{{{{contact.firstname}}}}, a {hook} for {{{{company.name}}}}")
        bodies.append(
            f"Hi {{{{contact.firstname}}}},\n\nA {hook} that teams like {{{{company.name}}}} found useful "
            f"(variant {i + 1}).\n\nBest,\n{{{{owner.firstname}}}}"
        )
    return names, subjects, bodies


def reply_texts(rng: np.random.Generator, positive: np.ndarray, objection: np.ndarray) -> np.ndarray:
    """Reply texts: a meeting-intent phrase when ``positive``, else the objection's phrase (or neutral)."""
    n = len(positive)
    out = np.asarray(NEUTRAL_PHRASES, dtype=object)[rng.integers(len(NEUTRAL_PHRASES), size=n)]
    pos = np.asarray(POSITIVE_PHRASES, dtype=object)[rng.integers(len(POSITIVE_PHRASES), size=n)]
    out = np.where(positive, pos, out)
    for category, phrases in OBJECTION_PHRASES.items():
        mask = objection == category
        if mask.any():
            picked = np.asarray(phrases, dtype=object)[rng.integers(len(phrases), size=int(mask.sum()))]
            out[mask] = np.char.add("Thanks, but ", picked.astype(str)).astype(object)
    return out
