"""Every example of Segment's query language reference, and the definitions seen in real workspaces."""

# ruff: noqa: E501  (tables of definitions read best one case a line)

from __future__ import annotations

from typing import Any

import pytest
from audience_support import DAY, HOUR, evaluate, identify, track, value

from gleap_actions.audiences import QuerySyntaxError, compile_definition

A1 = "event('Shoes Bought').where( property('price') >= 100 ).within(7 days).count() >= 1"
A2 = (
    "event('Shoes Bought').where( property('price') >= trait('avg_spend') AND "
    "event('Shoes Returned').within(parent: 5 days).count() >= 1 ).within(30 days).count() >= 1"
)
A3 = "NOT ( event('Shoes Bought').count() >= 1 AND trait('total_spend') > 200 )"
C1 = "event('Shoes Bought').within(30 days).avg(property('spend'))"
C2 = (
    "event('Shoes Bought').where( property('price') > 100 AND property('brand') = 'My Brand' )"
    ".min(property('spend'))"
)
C3 = "event('Shoes Bought').within(30 days).first(property('spend'))"
C4 = "event('Shoes Bought').within(30 days).mode(property('spend'), 2)"

AUDIENCES: list[tuple[str, str, list[dict[str, Any]], bool]] = [
    ("A1 member", A1, [track("Shoes Bought", 2 * DAY, price=150)], True),
    ("A1 too cheap", A1, [track("Shoes Bought", 2 * DAY, price=50)], False),
    ("A1 too old", A1, [track("Shoes Bought", 8 * DAY, price=150)], False),
    ("A1 price as text", A1, [track("Shoes Bought", DAY, price="100")], True),
    (
        "A2 returned 3 days after",
        A2,
        [
            identify(avg_spend=100),
            track("Shoes Bought", 10 * DAY, price=120),
            track("Shoes Returned", 7 * DAY),
        ],
        True,
    ),
    (
        "A2 returned 6 days after",
        A2,
        [
            identify(avg_spend=100),
            track("Shoes Bought", 10 * DAY, price=120),
            track("Shoes Returned", 4 * DAY),
        ],
        False,
    ),
    (
        "A2 returned before buying",
        A2,
        [
            identify(avg_spend=100),
            track("Shoes Returned", 11 * DAY),
            track("Shoes Bought", 10 * DAY, price=120),
        ],
        False,
    ),
    (
        "A2 below avg_spend",
        A2,
        [
            identify(avg_spend=100),
            track("Shoes Bought", 10 * DAY, price=80),
            track("Shoes Returned", 9 * DAY),
        ],
        False,
    ),
    ("A3 bought and spent", A3, [track("Shoes Bought"), identify(total_spend=300)], False),
    ("A3 bought, spent little", A3, [track("Shoes Bought"), identify(total_spend=100)], True),
    ("A3 nothing", A3, [identify(total_spend=300)], True),
    # Per-function examples.
    (
        "sources exclude",
        "event('X').sources({exclude: 'QgRHeujRJBM9j18yChyC', '/;hSBZDqGDPvXCKHbikPm'}).count() >= 1",
        [{**track("X"), "context": {"sourceId": "QgRHeujRJBM9j18yChyC"}}],
        False,
    ),
    (
        "sources other",
        "event('X').sources({exclude: ['QgRHeujRJBM9j18yChyC']}).count() >= 1",
        [{**track("X"), "context": {"sourceId": "other"}}],
        True,
    ),
    ("within(7 days)", "event('X').within(7 days).count() >= 1", [track("X", 6 * DAY)], True),
    ("between in", "event('X').between(7 days, 10 days).count() >= 1", [track("X", 8 * DAY)], True),
    ("between too new", "event('X').between(7 days, 10 days).count() >= 1", [track("X", 6 * DAY)], False),
    ("between too old", "event('X').between(7 days, 10 days).count() >= 1", [track("X", 11 * DAY)], False),
    (
        "context('page.url')",
        "event('Page Viewed').where(context('page.url').contains('/pricing')).count() >= 1",
        [
            {
                "type": "page",
                "userId": "u1",
                "timestamp": "2024-06-01T00:00:00Z",
                "context": {"page": {"url": "https://a.io/pricing"}},
            }
        ],
        True,
    ),
    (
        "literal(timestamp)",
        "trait('d') = literal(2022-10-17T00:00:00)",
        [identify(d="2022-10-17T00:00:00")],
        True,
    ),
    (
        "before_date unquoted",
        "trait('d').before_date(2023-12-07T18:50:00Z)",
        [identify(d="2023-12-07T18:49:59Z")],
        True,
    ),
    (
        "before_date later",
        "trait('d').before_date(2023-12-07T18:50:00Z)",
        [identify(d="2023-12-07T18:50:00Z")],
        False,
    ),
    ("within_last(7 days)", "trait('d').within_last(7 days)", [identify(d="2024-05-30T00:00:00Z")], True),
    # Seen in real workspaces.
    (
        "corpus NOT without parens",
        "trait('x') = 'true' AND NOT trait('y') = 'true'",
        [identify(x=True, y=False)],
        True,
    ),
    ("corpus bare decimal", "trait('predictive_vip_665') <= .20", [identify(predictive_vip_665=0.1)], True),
    (
        "corpus context('timestamp')",
        "event('Page Viewed').where(context('timestamp').before_date('2023-08-25T02:00:00-07:00')).count() >= 1",
        [{"type": "page", "userId": "u1", "timestamp": "2023-08-25T08:59:00Z"}],
        True,
    ),
    (
        "corpus abandoned cart",
        "event('Product Added').where(NOT event('Order Completed').within(parent: 30 days).count() = 1)"
        ".between(14 days, 30 days).count() >= 1",
        [track("Product Added", 20 * DAY), track("Order Completed", 25 * DAY)],
        True,
    ),
    (
        "corpus completed cart",
        "event('Product Added').where(NOT event('Order Completed').within(parent: 30 days).count() = 1)"
        ".between(14 days, 30 days).count() >= 1",
        [track("Product Added", 20 * DAY), track("Order Completed", 19 * DAY)],
        False,
    ),
    (
        "corpus audience trait",
        "trait('j_o_flow__step_ghgzm') = 'true'",
        [identify(j_o_flow__step_ghgzm=True)],
        True,
    ),
]


@pytest.mark.parametrize(("label", "text", "events", "expected"), AUDIENCES, ids=[a[0] for a in AUDIENCES])
def test_audience_examples(label: str, text: str, events: list[dict[str, Any]], expected: bool) -> None:
    assert evaluate(text, events) is expected


TRAITS: list[tuple[str, str, list[dict[str, Any]], Any]] = [
    ("C1", C1, [track("Shoes Bought", DAY, spend=10), track("Shoes Bought", 2 * DAY, spend=20), track("Shoes Bought", 40 * DAY, spend=100)], 15.0),
    (
        "C2",
        C2,
        [
            track("Shoes Bought", spend=30, price=150, brand="My Brand"),
            track("Shoes Bought", spend=20, price=150, brand="My Brand"),
            track("Shoes Bought", spend=5, price=150, brand="Other"),
            track("Shoes Bought", spend=1, price=50, brand="My Brand"),
        ],
        20,
    ),
    ("C3", C3, [track("Shoes Bought", 40 * DAY, spend=1), track("Shoes Bought", 3 * DAY, spend=2), track("Shoes Bought", DAY, spend=3)], 2),
    ("C4", C4, [track("Shoes Bought", spend=5), track("Shoes Bought", spend=7), track("Shoes Bought", spend=7), track("Shoes Bought", spend=5), track("Shoes Bought", spend=9)], "5"),
    ("C4 none twice", C4, [track("Shoes Bought", spend=5), track("Shoes Bought", spend=7)], None),
    ("expires_after(1 hour)", "event('X').expires_after(1 hour).count()", [track("X", 3 * HOUR), track("X", HOUR / 2), track("X", HOUR / 4)], 2),
    ("max as string", "event('X').max(property('spend') as string)", [track("X", spend=9), track("X", spend=10)], "9"),
    ("max as number", "event('X').max(property('spend'))", [track("X", spend=9), track("X", spend=10)], 10),
    ("mode as array", "event('X').mode(property('spend') as array, 2)", [track("X", spend=[1, 2]), track("X", spend=[1, 2]), track("X", spend=[1])], "[1,2]"),
    ("unique", "event('X').unique(property('spend'))", [track("X", spend="b"), track("X", spend="a"), track("X", spend="b")], ["a", "b"]),
    ("unique count", "event('X').unique(property('spend')).count()", [track("X", spend="b"), track("X", spend="a"), track("X", spend="b")], 2),
]  # fmt: skip


@pytest.mark.parametrize(("label", "text", "events", "expected"), TRAITS, ids=[t[0] for t in TRAITS])
def test_computed_trait_examples(label: str, text: str, events: list[dict[str, Any]], expected: Any) -> None:
    result = value(text, events)
    assert result == expected
    assert type(result) is type(expected)


UNSUPPORTED = [
    (
        "A4",
        "ALL ( event('Shoes Bought').count() >= 1 AND trait('total_spend') > 200 )",
        1,
        "account audiences",
    ),
    ("A5", "ALL NOT event('Shoes Bought').count() >= 1", 1, "account audiences"),
    ("A6", "ANY event('Shoes Bought').count() >= 1", 1, "account audiences"),
    (
        "A7",
        "entity('orders').where(entity('order-products').count() >= 1).count() >= 1",
        1,
        "Linked Audiences",
    ),
    ("A8", "entity('orders').count() >= 1 OR trait('VIP') = 'true'", 1, "Linked Audiences"),
    ("A9", "entity('orders').where(property('total') > 500).count() >= 1", 1, "Linked Audiences"),
]


@pytest.mark.parametrize(("label", "text", "column", "words"), UNSUPPORTED, ids=[u[0] for u in UNSUPPORTED])
def test_account_and_linked_examples_are_refused_clearly(
    label: str, text: str, column: int, words: str
) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        compile_definition(text)
    assert caught.value.column == column
    assert words in str(caught.value)


def test_a2_funnel_counts_every_parent_purchase() -> None:
    # The newest purchase has no return, an older one does: the user is in (every instance is evaluated).
    events = [
        identify(avg_spend=0),
        track("Shoes Bought", 20 * DAY, price=10),
        track("Shoes Returned", 19 * DAY),
        track("Shoes Bought", 2 * DAY, price=10),
    ]
    assert evaluate(A2, events) is True
