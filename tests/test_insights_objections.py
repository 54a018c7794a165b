"""The objection taxonomy: readable keyword lists, word-boundary matching, taxonomy order."""

from __future__ import annotations

import pytest

from feedbackloop.engine.objections import OBJECTION_CATEGORIES, TAXONOMY, find_objections, parse_objections


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("This is too expensive for us.", ("price",), id="price-phrase"),
        pytest.param("What's the pricing?", ("price",), id="price-stem"),
        pytest.param("No budget left, ask me next year", ("price", "timing"), id="budget-and-next-year"),
        pytest.param("Not right now, maybe next quarter.", ("timing",), id="timing"),
        pytest.param("We already use Acme for this", ("competitor",), id="competitor"),
        pytest.param("I'm not the right person, talk to my boss", ("authority",), id="authority"),
        pytest.param("I’m not the right person", ("authority",), id="curly-apostrophe"),
        pytest.param("We don't need this, not interested", ("need",), id="need"),
        pytest.param("Is it GDPR compliant? Our security team asks", ("security",), id="security"),
        pytest.param("Does it integrate with Salesforce?", ("integration",), id="integration"),
        pytest.param("Sounds great, let's talk Tuesday", (), id="no-objection"),
        pytest.param("He accosted me", (), id="word-boundary-accost-is-not-cost"),
        pytest.param("", (), id="empty"),
        pytest.param(None, (), id="none"),
        pytest.param(
            "Price is high, timing bad, we went with a competitor",
            ("price", "timing", "competitor"),
            id="several-in-taxonomy-order",
        ),
    ],
)
def test_find_objections(text: str | None, expected: tuple[str, ...]) -> None:
    assert find_objections(text) == expected


def test_taxonomy_is_transparent_and_covers_the_documented_categories() -> None:
    assert {"price", "timing", "competitor", "authority", "need"} <= set(OBJECTION_CATEGORIES)
    assert all(keywords and all(isinstance(k, str) for k in keywords) for keywords in TAXONOMY.values())


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("price,timing", ("price", "timing")),
        (" Price , price,", ("price",)),
        (None, ()),
        (float("nan"), ()),
        ("", ()),
        (["need"], ("need",)),
    ],
)
def test_parse_objections(cell: object, expected: tuple[str, ...]) -> None:
    assert parse_objections(cell) == expected
