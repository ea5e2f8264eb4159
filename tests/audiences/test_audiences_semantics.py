"""Comparators, junctions, nulls and missing values, extractors, filters and reducers, one behaviour each."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from audience_support import DAY, HOUR, NOW, evaluate, identify, iso, track, value

from gleap_actions.audiences import compile_definition

COMPARATORS: list[tuple[str, dict[str, Any], bool]] = [
    ("trait('x') = 5", {"x": 5}, True),
    ("trait('x') = 5", {"x": "5"}, True),
    ("trait('x') = 5", {"x": 5.0}, True),
    ("trait('x') = 5", {"x": 6}, False),
    ("trait('x') == 5", {"x": 5}, True),
    ("trait('x').equals(5)", {"x": 5}, True),
    ("trait('x').eq('a')", {"x": "a"}, True),
    ("trait('x') = 'A'", {"x": "a"}, False),
    ("trait('x') = 'true'", {"x": True}, True),
    ("trait('x') = true", {"x": "true"}, True),
    ("trait('x') != 5", {"x": 6}, True),
    ("trait('x') != 5", {"x": 5}, False),
    ("trait('x').differs(5)", {"x": 6}, True),
    ("trait('x').neq(5)", {"x": 6}, True),
    ("trait('x') > 5", {"x": 6}, True),
    ("trait('x') > 5", {"x": 5}, False),
    ("trait('x').greater_than(5)", {"x": "5.5"}, True),
    ("trait('x').gt(5)", {"x": 6}, True),
    ("trait('x') >= 5", {"x": 5}, True),
    ("trait('x').at_least(5)", {"x": 4}, False),
    ("trait('x').gte(5)", {"x": 5}, True),
    ("trait('x') < 5", {"x": 4}, True),
    ("trait('x').less_than(5)", {"x": 5}, False),
    ("trait('x').lt(5)", {"x": -1}, True),
    ("trait('x') <= 5", {"x": 5}, True),
    ("trait('x').at_most(5)", {"x": 6}, False),
    ("trait('x').lte(5)", {"x": 5}, True),
    ("trait('x') > 5", {"x": "abc"}, False),
    ("trait('x') > 'b'", {"x": "c"}, True),
    ("trait('x') > -2.5", {"x": -2}, True),
    ("trait('x').absent()", {}, True),
    ("trait('x').absent()", {"x": None}, True),
    ("trait('x').absent()", {"x": 0}, False),
    ("trait('x').is_null()", {}, True),
    ("trait('x').exists()", {"x": ""}, True),
    ("trait('x').exists()", {}, False),
    ("trait('x').is_set()", {"x": False}, True),
    ("trait('x').contains('ell')", {"x": "hello"}, True),
    ("trait('x').contains('zz', 'lo')", {"x": "hello"}, True),
    ("trait('x').contains(['zz', 'lo'])", {"x": "hello"}, True),
    ("trait('x').contains('zz')", {"x": "hello"}, False),
    ("trait('x').contains('ELL')", {"x": "hello"}, False),
    ("trait('x').contains('b')", {"x": ["a", "b"]}, True),
    ("trait('x').omits('zz')", {"x": "hello"}, True),
    ("trait('x').omits('zz', 'ell')", {"x": "hello"}, False),
    ("trait('x').starts_with('he')", {"x": "hello"}, True),
    ("trait('x').starts_with('lo')", {"x": "hello"}, False),
    ("trait('x').ends_with('lo')", {"x": "hello"}, True),
    ("trait('x').ends_with('he', 'llo')", {"x": "hello"}, True),
    ("trait('x').one_of('a', 'b')", {"x": "b"}, True),
    ("trait('x').one_of(['a', 'b'])", {"x": "c"}, False),
    ("trait('x').one_of(1, 2)", {"x": "2"}, True),
    ("trait('x').none_of('a', 'b')", {"x": "c"}, True),
    ("trait('x').none_of('a', 'b')", {"x": "a"}, False),
    ("trait('x').before_date('2024-01-01')", {"x": "2023-12-31T23:59:59Z"}, True),
    ("trait('x').before_date(2024-01-01)", {"x": "2024-01-01T00:00:00Z"}, False),
    ("trait('x').after_date(2024-01-01T00:00:00Z)", {"x": "2024-01-01T00:00:01+00:00"}, True),
    ("trait('x').after_date('2024-01-01')", {"x": "not a date"}, False),
    ("trait('x').after_date('2024-01-01')", {"x": 1_704_067_201}, True),  # Unix seconds
    ("trait('x').within_last(7 days)", {"x": iso(NOW - 6 * DAY)}, True),
    ("trait('x').within_last(7 days)", {"x": iso(NOW - 7 * DAY)}, False),
    ("trait('x').within_last(7 days)", {"x": iso(NOW)}, True),
    ("trait('x').within_last(7 days)", {"x": iso(NOW + HOUR)}, False),
    ("trait('x').within_next(2 hours)", {"x": iso(NOW + HOUR)}, True),
    ("trait('x').within_next(2 hours)", {"x": iso(NOW + 2 * HOUR)}, True),
    ("trait('x').within_next(2 hours)", {"x": iso(NOW + 3 * HOUR)}, False),
    ("trait('x').within_next(2 hours)", {"x": iso(NOW)}, False),
    ("trait('x').before_last(1 day)", {"x": iso(NOW - DAY)}, True),
    ("trait('x').before_last(1 day)", {"x": iso(NOW - HOUR)}, False),
    ("trait('x').after_next(1 day)", {"x": iso(NOW + 2 * DAY)}, True),
    ("trait('x').after_next(1 day)", {"x": iso(NOW + DAY)}, False),
    ("trait('x') = literal(2024-01-01)", {"x": "2024-01-01T00:00:00.000Z"}, True),
    ("trait('x') < 2024-01-01", {"x": "2023-06-01"}, True),
    ("trait('x') = trait('y')", {"x": 3, "y": "3"}, True),
    ("trait('x') = trait('y')", {"x": 3}, False),
    ("trait('a.b') = 1", {"a": {"b": 1}}, True),
    ("trait('a\\\\.b') = 1", {"a.b": 1}, True),
    ("trait('a\\.b') = 1", {"a": {"b": 1}}, False),
]


@pytest.mark.parametrize(("text", "traits", "expected"), COMPARATORS)
def test_comparators(text: str, traits: dict[str, Any], expected: bool) -> None:
    assert evaluate(text, [identify(**traits)]) is expected


@pytest.mark.parametrize(
    "text",
    [
        "trait('x') = 1",
        "trait('x') != 1",
        "trait('x') > 1",
        "trait('x').contains('a')",
        "trait('x').omits('a')",
        "trait('x').none_of('a')",
        "trait('x').before_date(2024-01-01)",
        "trait('x').within_last(7 days)",
    ],
)
def test_every_comparator_but_absent_is_false_on_a_missing_value(text: str) -> None:
    assert evaluate(text, [identify(y=1)]) is False
    assert evaluate(text, [identify(x=None)]) is False
    assert evaluate(f"NOT {text}", [identify(y=1)]) is True


def test_null_inclusive_differs_is_spelled_with_absent() -> None:
    text = "trait('x') != 5 OR trait('x').absent()"
    assert [evaluate(text, [identify(**t)]) for t in ({}, {"x": 6}, {"x": 5})] == [True, True, False]


JUNCTIONS = [
    ("trait('a') = 1 OR trait('b') = 1 AND trait('c') = 1", True),  # AND binds tighter than OR
    ("(trait('a') = 1 OR trait('b') = 1) AND trait('c') = 1", False),
    ("trait('c') = 1 AND trait('b') = 1 OR trait('a') = 1", True),
    ("NOT trait('a') = 1 OR trait('a') = 1", True),
    ("NOT (trait('a') = 1 OR trait('b') = 1)", False),
    ("NOT NOT trait('a') = 1", True),
    ("trait('a') = 1 and trait('b') = 0", True),  # keywords in either case
    ("((trait('a') = 1))", True),
]


@pytest.mark.parametrize(("text", "expected"), JUNCTIONS)
def test_junctions_and_precedence(text: str, expected: bool) -> None:
    assert evaluate(text, [identify(a=1, b=0, c=0)]) is expected


def test_traits_are_the_newest_identify_value_by_timestamp_not_input_order() -> None:
    events = [identify(0 * DAY, plan="pro"), identify(2 * DAY, plan="free", seats=3)]
    assert evaluate("trait('plan') = 'pro' AND trait('seats') = 3", events) is True
    assert evaluate("trait('plan') = 'free'", [*events, identify(HOUR, plan=None)]) is False


def test_events_after_now_and_events_without_a_valid_time_are_not_seen() -> None:
    future = track("X", -HOUR)
    broken = {**track("X"), "timestamp": "yesterday"}
    assert evaluate("event('X').count() >= 1", [future, broken]) is False
    assert evaluate("event('X').count() >= 1", [future], now=NOW + HOUR) is True
    assert evaluate("trait('p') = 1", [identify(-HOUR, p=1)]) is False


def test_page_and_screen_calls_are_page_viewed_and_screen_viewed() -> None:
    page = {
        "type": "page",
        "name": "Docs",
        "userId": "u1",
        "timestamp": iso(NOW),
        "properties": {"path": "/d"},
    }
    screen = {"type": "screen", "name": "Home", "userId": "u1", "timestamp": iso(NOW)}
    assert evaluate("event('Page Viewed').where(property('page_name') = 'Docs').count() = 1", [page]) is True
    assert evaluate("event('Page Viewed').where(property('path') = '/d').count() = 1", [page]) is True
    assert (
        evaluate("event('Screen Viewed').where(property('screen_name') = 'Home').count() = 1", [screen])
        is True
    )
    assert evaluate("event('Page Viewed').count() = 0", [screen]) is True


def test_properties_are_read_by_path_and_context_by_path() -> None:
    event = {**track("X", item={"sku": "a-1"}), "context": {"app": {"version": "2.0"}}}
    assert evaluate("event('X').where(property('item.sku') = 'a-1').count() = 1", [event]) is True
    assert evaluate("event('X').where(context('app.version') >= 2).count() = 1", [event]) is True
    assert evaluate("event('X').where(property('missing') = 1).count() = 0", [event]) is True
    assert evaluate("event('X').where(NOT property('missing') = 1).count() = 1", [event]) is True


def test_event_property_compared_with_a_trait_and_with_the_parent_event() -> None:
    events = [identify(limit=100), track("Cart", DAY, cart="c1"), track("Paid", HOUR, cart="c1")]
    assert evaluate("event('Cart').where(property('cart') = trait('limit')).count() >= 1", events) is False
    funnel = "event('Cart').where(event('Paid').where(property('cart') = property(parent: 'cart')).within(parent: 2 days).count() >= 1).count() >= 1"  # noqa: E501
    assert evaluate(funnel, events) is True
    assert evaluate(funnel.replace("2 days", "1 hour"), events) is False


def test_anonymous_profiles_count_only_when_included() -> None:
    events = [track("X", user=None)]
    text = "event('X').count() >= 1"
    assert compile_definition(text).evaluate(events, NOW) is False
    assert compile_definition(text, include_anonymous_users=True).evaluate(events, NOW) is True
    assert compile_definition("event('X').count()", kind="computed_trait").evaluate(events, NOW) is None
    # An identify with an email makes the profile known.
    assert compile_definition(text).evaluate([*events, identify(user=None, email="a@b.co")], NOW) is True


WINDOWS = [
    ("event('X').within(7 days).count()", [7 * DAY], 0),  # exactly 7 days old: out
    ("event('X').within(7 days).count()", [7 * DAY - timedelta(microseconds=1)], 1),
    ("event('X').within(7 days).count()", [timedelta(0)], 1),
    ("event('X').within(1 hour).count()", [HOUR / 2, 2 * HOUR], 1),
    ("event('X').within(30 seconds).count()", [timedelta(seconds=29), timedelta(seconds=30)], 1),
    ("event('X').within(2 minutes).count()", [timedelta(seconds=90)], 1),
    ("event('X').between(7 days, 10 days).count()", [7 * DAY], 1),  # exactly 7 days old: in
    ("event('X').between(7 days, 10 days).count()", [10 * DAY], 0),
    ("event('X').between(10 days, 7 days).count()", [8 * DAY], 1),
    ("event('X').within(30 days).within(7 days).count()", [8 * DAY, DAY], 1),
    ("event('X').expires_after(1 hour).count()", [HOUR], 0),  # the session ended
    ("event('X').expires_after(1 hour).count()", [2 * HOUR, HOUR + HOUR / 2, HOUR * 3 / 4], 3),
    ("event('X').expires_after(1 hour).count()", [2 * HOUR, HOUR + HOUR / 2, HOUR / 2], 1),  # a 1-hour gap
    ("event('X').expires_after(1 hour).count()", [3 * HOUR, HOUR / 2], 1),
    ("event('X').expires_after(2 seconds).count()", [timedelta(seconds=1)], 1),
]


@pytest.mark.parametrize(("text", "ages", "expected"), WINDOWS)
def test_windows(text: str, ages: list[timedelta], expected: int) -> None:
    assert value(text, [track("X", age) for age in ages]) == expected


def test_filters_apply_in_the_order_written() -> None:
    events = [track("X", 3 * HOUR, ok=True), track("X", HOUR / 2, ok=False)]
    # The session is the newest event only; where() then drops it.
    assert value("event('X').expires_after(1 hour).where(property('ok') = true).count()", events) == 0
    # where() first: the kept event is 3 hours old, so its session has ended.
    assert value("event('X').where(property('ok') = true).expires_after(1 hour).count()", events) == 0
    assert value("event('X').where(property('ok') = true).expires_after(4 hours).count()", events) == 1


REDUCERS: list[tuple[str, list[Any], Any]] = [
    ("count()", [1, None, "a"], 3),
    ("count()", [], 0),
    ("sum(property('v'))", [1, 2, 3], 6),
    ("sum(property('v'))", [1, 2.5], 3.5),
    ("sum(property('v'))", ["1.5", 2, "abc", None, True], 3.5),
    ("sum(property('v'))", [], 0),
    ("avg(property('v'))", [1, 2], 1.5),
    ("avg(property('v'))", ["x"], None),
    ("avg(property('v'))", [], None),
    ("min(property('v'))", [3, 10, "2"], 2),  # as number: a numeric string counts
    ("max(property('v'))", [3, 10, "2"], 10),
    ("max(property('v') as number)", [3, 10], 10),
    ("min(property('v') as string)", [3, 10, "b"], "10"),
    ("max(property('v') as string)", ["apple", "banana"], "banana"),
    ("max(property('v'))", ["apple"], None),
    ("mode(property('v'), 1)", ["b", "a", "b", "a"], "a"),  # ties: alphabetical
    ("mode(property('v'), 3)", ["b", "a", "b", "a"], None),
    ("mode(property('v'))", [5, 5, 7], "5"),
    ("mode(property('v') as number, 2)", [5, "5", 7], 5),
    ("mode(property('v') as string, 2)", [["a", "b"], ["b"]], "b"),
    ("first(property('v'))", [None, 2, 3], 2),
    ("last(property('v'))", [1, 2, None], 2),
    ("first(property('v'))", [], None),
    ("unique(property('v'))", ["b", "a", "b", None], ["a", "b"]),
    ("unique(property('v'))", [["x", "y"], "x"], ["x", "y"]),
    ("unique(property('v'))", [], []),
    ("unique(property('v')).count()", [1, "1", 2], 2),
]


@pytest.mark.parametrize(("reducer", "values", "expected"), REDUCERS)
def test_reducers(reducer: str, values: list[Any], expected: Any) -> None:
    # Oldest first: the first value is the oldest event.
    events = [track("X", (len(values) - i) * HOUR, v=v) for i, v in enumerate(values)]
    result = value(f"event('X').{reducer}", [identify(DAY), *events])
    assert result == expected
    assert type(result) is type(expected)


def test_first_and_last_follow_timestamps_not_input_order() -> None:
    events = [track("X", HOUR, v="newer"), track("X", DAY, v="older")]
    assert value("event('X').first(property('v'))", events) == "older"
    assert value("event('X').last(property('v'))", events) == "newer"


def test_reducer_on_context() -> None:
    events = [{**track("X"), "context": {"page": {"url": u}}} for u in ("/a", "/b", "/a")]
    assert value("event('X').unique(context('page.url'))", events) == ["/a", "/b"]


def test_a_reducer_can_be_a_comparison_argument() -> None:
    events = [track("A"), track("A"), track("B")]
    assert evaluate("event('A').count() > event('B').count()", events) is True


def test_evaluation_needs_an_aware_now_and_a_known_kind() -> None:
    with pytest.raises(ValueError, match="aware"):
        compile_definition("trait('x') = 1").evaluate([], NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="kind"):
        compile_definition("trait('x') = 1", kind="segment")  # type: ignore[arg-type]


def test_odd_events_are_skipped_not_fatal() -> None:
    events: list[Any] = [None, "x", {"type": "track"}, {"type": "track", "event": 5, "timestamp": iso(NOW)}]
    events.append({**track("X"), "properties": "not an object", "context": []})
    assert value("event('X').count()", events) == 1
