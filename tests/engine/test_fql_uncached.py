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
