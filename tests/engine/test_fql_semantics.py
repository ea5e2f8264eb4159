"""FQL evaluation: every operator and function against realistic Segment events (reference section 2.5)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from gleap_actions import fql

TRACK: dict[str, Any] = {
    "type": "track",
    "event": "Order Completed",
    "userId": "user-0044",
    "anonymousId": "anon-7f3a",
    "messageId": "ajs-next-1700000000000-abc",
    "timestamp": "2024-05-17T10:44:00.000Z",
    "properties": {
        "order_id": "50314b8e",
        "total": 150.5,
        "revenue": 150,
        "discount": 0,
        "currency": "EUR",
        "coupon": None,
        "gift": False,
        "first_order": True,
        "total_str": "150",
        "flag_str": "true",
        "products": [
            {"product_id": "507f1f77", "sku": "45790-32", "price": 19.99, "quantity": 1},
            {"product_id": "505bd76785", "sku": "46493-32", "price": 3, "quantity": 2},
        ],
        "product 1": "Monopoly",
        "$browser": "Chrome",
        "a.b": "dotted",
        "tags": ["sale", "summer"],
    },
    "context": {
        "app": {"name": "Shop", "version": "2.4.1", "build": 241},
        "library": {"name": "analytics-python", "version": "2.3.2"},
        "page": {"url": "https://shop.example.com/checkout?step=2", "path": "/checkout"},
        "ip": "203.0.113.7",
        "locale": "de-AT",
    },
    "integrations": {"All": True, "Gleap (Action)": True},
}
PAGE: dict[str, Any] = {
    "type": "page",
    "name": "Pricing",
    "anonymousId": "anon-2",
    "properties": {"url": "https://example.com/pricing", "path": "/pricing", "title": "Pricing | Acme"},
    "context": {"page": {"url": "https://example.com/pricing", "referrer": "https://google.com/"}},
}
SCREEN: dict[str, Any] = {
    "type": "screen",
    "name": "Home",
    "userId": "12345",
    "properties": {"variation": "blue signup button"},
    "context": {"app": {"version": "5.0.0"}, "os": {"name": "iOS", "version": "17.4"}},
}
IDENTIFY: dict[str, Any] = {
    "type": "identify",
    "userId": "user-0044",
    "traits": {
        "email": "jane.doe@example.com",
        "plan": "enterprise",
        "logins": 42,
        "beta": True,
        "company": {"name": "Acme GmbH", "employees": 250},
        "phone": None,
    },
}
GROUP: dict[str, Any] = {
    "type": "group",
    "groupId": "acme-1",
    "userId": "user-0044",
    "traits": {"name": "Acme GmbH", "industry": "Retail", "employees": 250},
}
ALIAS: dict[str, Any] = {"type": "alias", "userId": "user-0044", "previousId": "anon-7f3a"}
ALL_EVENTS = [TRACK, PAGE, SCREEN, IDENTIFY, GROUP, ALIAS]


def check(trigger: str, event: dict[str, Any], expected: bool) -> None:
    assert fql.parse(trigger)(event) is expected, trigger
    assert fql.matches(trigger, event) is expected, trigger


def test_default_triggers_of_the_gleap_actions_select_by_call_type() -> None:
    track_event = fql.parse('type = "track" or type = "page" or type = "screen"')
    identify = fql.parse('type = "identify"')
    assert [track_event(e) for e in ALL_EVENTS] == [True, True, True, False, False, False]
    assert [identify(e) for e in ALL_EVENTS] == [False, False, False, True, False, False]


@pytest.mark.parametrize(
    ("trigger", "event", "expected"),
    [
        ('type = "group"', GROUP, True),
        ('type = "alias"', ALIAS, True),
        ('type = "TRACK"', TRACK, False),  # case-sensitive, like Segment
        ('type != "track"', PAGE, True),
        ('type != "track"', TRACK, False),
        ('event = "Order Completed"', TRACK, True),
        ('event = "order completed"', TRACK, False),
        ('event != "Order Completed"', PAGE, True),  # a missing field is "not equal"
        ('name = "Pricing"', PAGE, True),
        ('name = "Home"', SCREEN, True),
        ('userId = "user-0044"', IDENTIFY, True),
        ('userId != "user-0044"', PAGE, True),
    ],
)
def test_equality_on_top_level_fields(trigger: str, event: dict[str, Any], expected: bool) -> None:
    check(trigger, event, expected)


@pytest.mark.parametrize(
    ("trigger", "event", "expected"),
    [
        # Strings compare strictly: a number in the event never equals a quoted string.
        ('properties.currency = "EUR"', TRACK, True),
        ('properties.currency = "eur"', TRACK, False),
        ('properties.revenue = "150"', TRACK, False),
        ('properties.total_str = "150"', TRACK, True),
        ('properties.revenue != "150"', TRACK, True),
        ('properties.missing != "x"', TRACK, True),
        ('properties.currency != "EUR"', TRACK, False),
        # Numbers compare numerically and need a number in the event.
        ("properties.revenue = 150", TRACK, True),
        ("properties.revenue = 150.0", TRACK, True),
        ("properties.total = 150.5", TRACK, True),
        ("properties.total_str = 150", TRACK, False),
        ("properties.revenue != 100", TRACK, True),
        ("properties.revenue != 150", TRACK, False),
        ("properties.missing != 5", TRACK, False),  # number_not_equals on a missing field
        ("properties.total_str != 5", TRACK, False),
        ("properties.first_order = 1", TRACK, False),  # a boolean is not a number
        ("properties.discount = 0", TRACK, True),
        ("traits.logins = 42", IDENTIFY, True),
        ("traits.company.employees = 250", IDENTIFY, True),
    ],
)
def test_equality_on_properties_traits_and_context(
    trigger: str, event: dict[str, Any], expected: bool
) -> None:
    check(trigger, event, expected)


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        ("properties.total > 100", True),
        ("properties.total > 150.5", False),
        ("properties.total >= 150.5", True),
        ("properties.total < 200", True),
        ("properties.total <= 150.49", False),
        ("properties.total > -1", True),
        ("properties.total > 1e2", True),
        ('properties.total > "100"', True),  # a quoted number is read as a number, as in Segment
        ("properties.total_str > 100", False),  # numeric strings in the event never compare
        ("properties.missing > 0", False),
        ("properties.missing < 0", False),
        ("properties.first_order > 0", False),  # booleans are not numbers
        ("properties.currency < 5", False),
        ("properties.discount >= 0", True),
        ("context.app.build >= 241", True),
        ("properties.products.1.price < 5", True),
    ],
)
def test_order_operators_compare_numbers(trigger: str, expected: bool) -> None:
    check(trigger, TRACK, expected)


@pytest.mark.parametrize(
    ("trigger", "event", "expected"),
    [
        ("properties.coupon = null", TRACK, True),  # JSON null
        ("properties.missing = null", TRACK, True),  # absent
        ("properties.coupon != null", TRACK, False),
        ("properties.currency != null", TRACK, True),
        ("properties.gift != null", TRACK, True),  # false exists
        ("properties.discount != null", TRACK, True),  # 0 exists
        ("traits.phone = null", IDENTIFY, True),
        ("traits.email != null", IDENTIFY, True),
        ("userId != null", IDENTIFY, True),
        ("userId = null", PAGE, True),
        ("name != null", PAGE, True),
        ("name = null", TRACK, True),
        ("context.page.url != null", PAGE, True),
        ("event != null", IDENTIFY, False),  # deliberate: Segment compares with the text "null"
        ("event != null", TRACK, True),
        ("properties.nothing.deeper = null", TRACK, True),
        ("properties.coupon.code = null", TRACK, True),  # through a null intermediate
    ],
)
def test_null_means_missing_or_null(trigger: str, event: dict[str, Any], expected: bool) -> None:
    check(trigger, event, expected)


@pytest.mark.parametrize(
    ("trigger", "event", "expected"),
    [
        ("properties.first_order = true", TRACK, True),
        ("properties.first_order = false", TRACK, False),
        ("properties.gift = false", TRACK, True),
        ("properties.flag_str = true", TRACK, False),  # the string "true" is not a boolean
        ('properties.flag_str = "true"', TRACK, True),
        ('properties.first_order = "true"', TRACK, False),
        ("properties.missing = false", TRACK, False),
        ("traits.beta = true", IDENTIFY, True),
        ("properties.first_order != true", TRACK, False),  # deliberate: Segment says true here
        ("properties.flag_str != true", TRACK, True),
        ("properties.missing != true", TRACK, True),
        ("properties.gift != false", TRACK, False),
        ("userId = true", IDENTIFY, False),  # userId: must be the boolean, as in Segment
    ],
)
def test_booleans(trigger: str, event: dict[str, Any], expected: bool) -> None:
    check(trigger, event, expected)


@pytest.mark.parametrize(
    ("trigger", "event", "expected"),
    [
        # Segment compares type, event, name and userId with the text of a number or boolean.
        ("userId = 12345", SCREEN, True),
        ("userId = 12345.0", SCREEN, True),  # JavaScript String(12345.0) is "12345"
        ("userId != 12345", SCREEN, False),
        ("userId != 12345", PAGE, True),  # missing: not equal (text comparison)
        ("event = 404", {"type": "track", "event": "404"}, True),
        ("name = true", {"type": "page", "name": "true"}, True),
        ("name = false", {"type": "page", "name": False}, False),
        ("type = 1", {"type": "1"}, True),
        ("userId = 5", {"userId": 5}, False),  # Segment: "5" only
    ],
)
def test_text_fields_compare_numbers_and_booleans_as_text(
    trigger: str, event: dict[str, Any], expected: bool
) -> None:
    check(trigger, event, expected)


@pytest.mark.parametrize(
    ("trigger", "event", "expected"),
    [
        ('contains(event, "Order")', TRACK, True),
        ('contains(event, "order")', TRACK, False),  # case-sensitive
        ('contains(event, "")', TRACK, True),
        ('contains(event, "")', IDENTIFY, False),  # no event name: not a string
        ('!contains(event, "Order")', TRACK, False),
        ('!contains(event, "Signup")', TRACK, True),
        ('!contains(event, "Signup")', IDENTIFY, False),  # negated form also needs a string
        ('contains(traits.email, "@example.com")', IDENTIFY, True),
        ('contains(context.page.url, "checkout")', TRACK, True),
        ('contains(properties.revenue, "15")', TRACK, False),  # a number is not searched
        ("contains(properties.total_str, 15)", TRACK, True),  # the number 15 is the text "15"
        ('contains(name, "ric")', PAGE, True),
        ('contains(userId, "0044")', IDENTIFY, True),
        ('contains(properties.tags, "sale")', TRACK, False),  # arrays are not strings
        ('contains(type, "tra")', TRACK, True),  # Segment silently drops conditions on type
        ('contains(anonymousId, "anon")', TRACK, True),
    ],
)
def test_contains(trigger: str, event: dict[str, Any], expected: bool) -> None:
    check(trigger, event, expected)


@pytest.mark.parametrize(
    ("trigger", "event", "expected"),
    [
        ('match(event, "Order*")', TRACK, True),  # starts with
        ('match(event, "order*")', TRACK, False),
        ('match(event, "*Completed")', TRACK, True),  # ends with
        ('match(event, "*Complete")', TRACK, False),
        ('match(event, "*der Comp*")', TRACK, True),  # contains
        ('match(event, "O*C*d")', TRACK, True),
        ('match(event, "O*x*d")', TRACK, False),
        ('match(event, "Order Completed")', TRACK, True),  # no star: the whole text
        ('match(event, "rder Completed")', TRACK, False),
        ('match(event, "*")', TRACK, True),
        ('match(event, "*")', IDENTIFY, False),
        ('match(event, "Order**Completed")', TRACK, True),
        ('match(event, "Order*Order*")', TRACK, False),
        ('match(event, "ab*ba")', {"event": "aba"}, False),  # prefix and suffix may not overlap
        ('match(event, "ab*ba")', {"event": "abba"}, True),
        ('!match(event, "Order*")', TRACK, False),
        ('!match(event, "Signup*")', TRACK, True),
        ('!match(event, "Signup*")', IDENTIFY, False),  # negated form also needs a string
        ('match(context.page.url, "https://shop.example.com/*")', TRACK, True),
        ('match(traits.email, "*@example.com")', IDENTIFY, True),
        ('match(context.app.version, "2.*")', TRACK, True),
        ('match(context.app.version, "2.*")', SCREEN, False),
    ],
)
def test_match_is_a_glob_with_star(trigger: str, event: dict[str, Any], expected: bool) -> None:
    check(trigger, event, expected)


@pytest.mark.parametrize(
    ("trigger", "event", "expected"),
    [
        ('anonymousId = "anon-7f3a"', TRACK, True),
        ('messageId = "ajs-next-1700000000000-abc"', TRACK, True),
        ('groupId = "acme-1"', GROUP, True),
        ('previousId = "anon-7f3a"', ALIAS, True),
        ('context.app.version = "2.4.1"', TRACK, True),
        ('context.library.name = "analytics-python"', TRACK, True),
        ('context.os.name = "iOS"', SCREEN, True),
        ('properties.products.0.sku = "45790-32"', TRACK, True),
        ('properties.products[1].sku = "46493-32"', TRACK, True),
        ("properties.products.2.sku = null", TRACK, True),  # out of range
        ("properties.products.01.sku = null", TRACK, True),  # not a canonical index
        ('properties.tags.1 = "summer"', TRACK, True),
        ('properties["product 1"] = "Monopoly"', TRACK, True),
        ('properties.product\\ 1 = "Monopoly"', TRACK, True),  # Segment's escaped key
        ("properties['product 1'] = \"Monopoly\"", TRACK, True),
        ('properties.$browser = "Chrome"', TRACK, True),
        ('properties.\\$browser = "Chrome"', TRACK, True),
        ('properties["a.b"] = "dotted"', TRACK, True),
        ('integrations["Gleap (Action)"] = true', TRACK, True),
        ("properties != null", TRACK, True),  # the whole object
        ("properties.currency.code = null", TRACK, True),  # strings have no keys
        ("properties.gift.x = false", TRACK, False),  # Segment returns the falsy parent
        ('event.name = "Order Completed"', TRACK, False),  # Segment ignores ".name" after event
        ("properties.currency.length = 3", TRACK, False),  # strings are not JS objects
    ],
)
def test_any_event_path(trigger: str, event: dict[str, Any], expected: bool) -> None:
    check(trigger, event, expected)


@pytest.mark.parametrize("event", [None, "", [], "track", 0, ["type", "track"]])
def test_anything_but_an_object_matches_nothing(event: Any) -> None:
    assert fql.parse('type = "track"')(event) is False
    assert fql.parse("properties.x = null")(event) is False
    assert fql.parse('not (type = "track")')(event) is False


def test_an_empty_event_matches_only_negative_conditions() -> None:
    assert fql.matches('type = "track"', {}) is False
    assert fql.matches('type != "track"', {}) is True
    assert fql.matches("userId = null", {}) is True


def test_matches_caches_the_compiled_trigger() -> None:
    fql.matches('event = "cached"', TRACK)
    from gleap_actions.engine.fql.trigger import _cached

    before = _cached.cache_info().hits
    assert fql.matches('event = "cached"', {"event": "cached"}) is True
    assert _cached.cache_info().hits == before + 1
    assert _cached.cache_info().maxsize is not None


def test_trigger_keeps_its_text() -> None:
    text = 'type = "track"  and event = "A"'
    trigger = fql.parse(text)
    assert trigger.text == text
    assert repr(trigger) == f"Trigger({text!r})"


def test_triggers_pickle_by_their_text() -> None:
    trigger = pickle.loads(pickle.dumps(fql.parse('event = "Order Completed" and properties.total > 100')))
    assert trigger.text == 'event = "Order Completed" and properties.total > 100'
    assert trigger(TRACK) is True
    assert trigger(PAGE) is False


@pytest.mark.parametrize(
    ("text", "name"), [(None, "NoneType"), (5, "int"), (b'type = "track"', "bytes"), ({"type": "x"}, "dict")]
)
def test_parse_rejects_non_strings(text: object, name: str) -> None:
    """The message names the type that was given (not just None's)."""
    with pytest.raises(TypeError) as caught:
        fql.parse(text)  # type: ignore[arg-type]
    assert str(caught.value) == f"a trigger must be a string, not {name}"


@pytest.mark.parametrize(
    ("number", "text"),
    [
        ("15", "15"),
        ("1.50", "1.5"),
        ("100000000000000000000", "100000000000000000000"),
        ("1000000000000000000000", "1e+21"),  # from 10**21 on JavaScript writes an exponent
        ("0.0000001", "1e-7"),
    ],
)
def test_a_number_argument_is_matched_as_javascript_writes_it(number: str, text: str) -> None:
    # fql.parse, not fql.matches: the latter's cache would answer for a trigger compiled before
    assert fql.parse(f"contains(properties.s, {number})")({"properties": {"s": f"<{text}>"}})
    assert fql.parse(f"match(properties.s, {number})")({"properties": {"s": text}})
