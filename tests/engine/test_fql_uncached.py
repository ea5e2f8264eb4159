"""Parser, lexer and `match()` details checked on freshly parsed triggers.

`fql.matches` caches compiled triggers, so these tests parse their triggers themselves (`fql.parse`,
`parse_tree`): each case below runs the parser and compiler again, whatever ran before.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gleap_actions.engine import fql
from gleap_actions.engine.errors import FqlSyntaxError
from gleap_actions.engine.fql.compiler import glob
from gleap_actions.engine.fql.nodes import Function
from gleap_actions.engine.fql.parser import MAX_DEPTH, parse_tree


def _regex_glob(pattern: str, text: str) -> bool:
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), text, re.S) is not None


GLOBS = [
    ("a*b*c", "abc", True),
    ("a*b*c", "ac", False),
    ("a*b*c", "axxbyyc", True),
    ("a*bb*b", "abbb", True),
    ("a*bb*b", "abb", False),
    ("*b*", "b", True),
    ("*b*", "", False),
    ("*ab*ab*", "abab", True),
    ("*ab*ab*", "aba", False),
    ("x*ab*y", "xaby", True),
    ("x*ab*y", "xayb", False),
    ("ab*b*ba", "abba", False),
    ("ab*b*ba", "abbba", True),
    ("*a*", "bbb", False),
    ("a*b*c", "abx", False),
    ("a*b*c", "xbc", False),
    ("a*c*c", "axc", False),
    ("*b*a*", "ab", False),
    ("*ab*b*", "ab", False),
]


@pytest.mark.parametrize(("pattern", "text", "expected"), GLOBS)
def test_match_patterns_with_several_stars(pattern: str, text: str, expected: bool) -> None:
    assert _regex_glob(pattern, text) is expected  # the table itself is right
    assert glob(pattern)(text) is expected


@given(st.text("ab*", max_size=8), st.text("ab", max_size=10))
def test_match_agrees_with_a_regular_expression(pattern: str, text: str) -> None:
    assert glob(pattern)(text) is _regex_glob(pattern, text)


@pytest.mark.parametrize(("literal", "text"), [("true", "true"), ("false", "false"), ("12.5", "12.5")])
def test_contains_takes_booleans_and_numbers_as_their_text(literal: str, text: str) -> None:
    node = parse_tree(f"contains(properties.note, {literal})")
    assert isinstance(node, Function)
    assert (node.name, node.argument) == ("contains", text)
    trigger = fql.parse(f"contains(properties.note, {literal})")
    assert trigger({"properties": {"note": f"it is {text}!"}})
    assert not trigger({"properties": {"note": "it is neither"}})


def test_match_is_named_match() -> None:
    node = parse_tree('match(event, "Order*")')
    assert isinstance(node, Function)
    assert node.name == "match"


def test_an_exponent_in_capitals_is_a_number() -> None:
    trigger = fql.parse("properties.total = 1E3")
    assert trigger({"properties": {"total": 1000}})
    assert not trigger({"properties": {"total": 1}})


def test_integer_literals_up_to_308_digits_are_numbers() -> None:
    fql.parse("properties.total = " + "9" * 308)
    with pytest.raises(FqlSyntaxError, match="a number of reasonable size"):
        fql.parse("properties.total = " + "9" * 309)


@pytest.mark.parametrize("after", [".", "\\", "x"])
def test_a_number_runs_into_no_dot_backslash_or_letter(after: str) -> None:
    with pytest.raises(FqlSyntaxError, match="expected a number") as caught:
        fql.parse(f"properties.total = 12{after}")
    assert caught.value.column == 20


def test_too_deep_nesting_names_the_trigger() -> None:
    text = "(" * (MAX_DEPTH + 1) + 'type = "track"' + ")" * (MAX_DEPTH + 1)
    with pytest.raises(FqlSyntaxError, match="nested parentheses") as caught:
        fql.parse(text)
    assert caught.value.text == text


def test_an_or_of_values_on_a_nested_field() -> None:
    trigger = fql.parse('properties.plan = "pro" or properties.plan = "team"')
    assert trigger({"properties": {"plan": "pro"}})
    assert trigger({"properties": {"plan": "team"}})
    assert not trigger({"properties": {"plan": "free"}})
    assert not trigger({"properties": {}})
    assert not trigger({"plan": "pro"})


@pytest.mark.parametrize(
    ("trigger_text", "name", "expected"),
    [
        ("event = false", "false", True),
        ("event = false", "true", False),
        ("event = true", "true", True),
        ("event != false", "false", False),
    ],
)
def test_a_boolean_compared_with_the_event_name_is_compared_as_text(
    trigger_text: str, name: str, expected: bool
) -> None:
    assert fql.parse(trigger_text)({"type": "track", "event": name}) is expected


def test_a_boolean_under_a_text_field_name_deeper_down_is_a_boolean() -> None:
    trigger = fql.parse("name.first = true")
    assert trigger({"name": {"first": True}})
    assert not trigger({"name": {"first": "true"}})
