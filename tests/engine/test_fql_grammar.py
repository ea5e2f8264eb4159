"""FQL grammar: precedence, grouping, negation, keywords, paths, strings and the syntax tree."""

from __future__ import annotations

from itertools import product
from typing import Any

import pytest

from gleap_actions import fql
from gleap_actions.engine.fql.nodes import And, Comparison, Function, Not, Or

A = Comparison(("event",), "=", "A")
B = Comparison(("event",), "=", "B")
TRACK = Comparison(("type",), "=", "track")


def tree(text: str) -> object:
    return fql.parse(text).tree


def truth_events() -> list[tuple[dict[str, Any], bool, bool, bool]]:
    """Every assignment of truth values to the conditions p.a = 1, p.b = 1, p.c = 1."""
    events = []
    for a, b, c in product([False, True], repeat=3):
        properties = {"a": int(a), "b": int(b), "c": int(c)}
        events.append(({"type": "track", "properties": properties}, a, b, c))
    return events


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p.a = 1 and p.b = 1 or p.c = 1", lambda a, b, c: (a and b) or c),
        ("p.a = 1 or p.b = 1 and p.c = 1", lambda a, b, c: a or (b and c)),
        ("(p.a = 1 or p.b = 1) and p.c = 1", lambda a, b, c: (a or b) and c),
        ("p.a = 1 and (p.b = 1 or p.c = 1)", lambda a, b, c: a and (b or c)),
        ("p.a = 1 AND p.b = 1 OR p.c = 1", lambda a, b, c: (a and b) or c),
        ("not p.a = 1 and p.b = 1", lambda a, b, c: (not a) and b),
        ("not (p.a = 1 and p.b = 1)", lambda a, b, c: not (a and b)),
        ("!(p.a = 1 or p.b = 1) or p.c = 1", lambda a, b, c: (not (a or b)) or c),
        ("NOT NOT p.a = 1", lambda a, b, c: a),
        ("((p.a = 1) or ((p.b = 1))) and not ((p.c = 1))", lambda a, b, c: (a or b) and not c),
        ("p.a = 1 and p.b = 1 and p.c = 1", lambda a, b, c: a and b and c),
        ("p.a = 1 or p.b = 1 or p.c = 1", lambda a, b, c: a or b or c),
    ],
)
def test_and_binds_tighter_than_or_and_parentheses_nest(text: str, expected: Any) -> None:
    trigger = fql.parse(text.replace("p.", "properties."))
    for event, a, b, c in truth_events():
        assert trigger(event) is expected(a, b, c), (text, a, b, c)


def test_the_syntax_tree_reflects_precedence() -> None:
    assert tree('event = "A" or event = "B" and type = "track"') == Or((A, And((B, TRACK))))
    assert tree('(event = "A" or event = "B") and type = "track"') == And((Or((A, B)), TRACK))
    assert tree('event = "A" or event = "B" or type = "track"') == Or((A, B, TRACK))
    assert tree('((event = "A"))') == A
    assert tree('not event = "A"') == Not(A)
    assert tree('!(event = "A")') == Not(A)


def test_a_function_inside_parentheses_does_not_end_the_group() -> None:
    # Segment ends a group at the first ")" and parses this as a flat `or` of three conditions.
    trigger = fql.parse('type = "z" and (contains(event, "x") or type = "y")')
    assert trigger.tree == And(
        (
            Comparison(("type",), "=", "z"),
            Or((Function("contains", ("event",), "x"), Comparison(("type",), "=", "y"))),
        )
    )
    assert trigger({"type": "y"}) is False
    assert trigger({"type": "z", "event": "xx"}) is True


@pytest.mark.parametrize(
    ("text", "negated"),
    [
        ('!contains(event, "x")', True),
        ('not contains(event, "x")', True),
        ('NOT match(event, "x*")', True),
        ('contains(event, "x")', False),
    ],
)
def test_negation_before_a_function_is_segments_negated_function(text: str, negated: bool) -> None:
    node = tree(text)
    assert isinstance(node, Function)
    assert node.negated is negated
    assert fql.parse(text)({"type": "identify"}) is False  # both forms need a string field


def test_negating_a_parenthesised_function_is_logical_negation() -> None:
    assert fql.matches('not (contains(event, "x"))', {"type": "identify"}) is True
    assert fql.matches('!(contains(event, "x"))', {"event": "xyz"}) is False


@pytest.mark.parametrize(
    "text",
    [
        'type = "track" or type = "page"',
        'type = "track" OR type = "page"',
        'type = "track" Or type = "page"',
        'type = "track"\nor\ttype = "page"',
        'type = "track"\r\n  or type = "page"',
        '  type="track"or type="page"  ',
        "type = 'track' or type = 'page'",
    ],
)
def test_keywords_whitespace_and_quotes(text: str) -> None:
    trigger = fql.parse(text)
    assert trigger({"type": "page"}) is True
    assert trigger({"type": "screen"}) is False


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("anonymousId", ("anonymousId",)),
        ("context.app.version", ("context", "app", "version")),
        ("properties.items.0.sku", ("properties", "items", "0", "sku")),
        ("properties.items[0].sku", ("properties", "items", "0", "sku")),
        ('properties["first name"]', ("properties", "first name")),
        ("properties['a.b']", ("properties", "a.b")),
        ('properties["say \\"hi\\""]', ("properties", 'say "hi"')),
        ("properties.product\\ 1", ("properties", "product 1")),
        ("properties.\\$browser", ("properties", "$browser")),
        ("properties.a\\.b", ("properties", "a.b")),
        ("properties.my-key_2", ("properties", "my-key_2")),
        ("properties.größe", ("properties", "größe")),
        ("properties.2fa", ("properties", "2fa")),
        ("properties.and.or.not", ("properties", "and", "or", "not")),
        ('["and"]', ("and",)),
        ("\\not", ("not",)),
        ("not", ("not",)),  # a field, since an operator follows
        ("contains", ("contains",)),
        ("true", ("true",)),
    ],
)
def test_field_paths(text: str, path: tuple[str, ...]) -> None:
    node = tree(f"{text} = 1")
    assert node == Comparison(path, "=", 1)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ('"plain"', "plain"),
        ("'single'", "single"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        ('"a\\"b"', 'a"b'),
        ("'a\\'b'", "a'b"),
        ('"back\\\\slash"', "back\\slash"),
        ('"line\\nbreak\\ttab\\r"', "line\nbreak\ttab\r"),
        ('"\\u00e9t\\u00E9"', "été"),
        ('"\\ud83d\\ude00"', "\U0001f600"),
        ('"C:\\path\\dir"', "C:\\path\\dir"),  # unknown escapes stay as written
        ('"a\\/b"', "a/b"),
        ('""', ""),
        ('"größe 😀"', "größe 😀"),
        ('"and or not ( ) = !="', "and or not ( ) = !="),
    ],
)
def test_string_literals_and_escapes(literal: str, value: str) -> None:
    assert tree(f"properties.x = {literal}") == Comparison(("properties", "x"), "=", value)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        ("0", 0),
        ("-5", -5),
        ("+5", 5),
        ("1.25", 1.25),
        ("-0.5", -0.5),
        ("1e3", 1000.0),
        ("2.5E-2", 0.025),
        ("123456789012345678901234567890", 123456789012345678901234567890),
        ("true", True),
        ("false", False),
        ("null", None),
    ],
)
def test_value_literals(literal: str, value: object) -> None:
    node = tree(f"properties.x = {literal}")
    assert isinstance(node, Comparison)
    assert node.value == value
    assert type(node.value) is type(value)


@pytest.mark.parametrize(
    ("text", "operator"),
    [
        ("properties.x=1", "="),
        ("properties.x!=1", "!="),
        ("properties.x<1", "<"),
        ("properties.x<=1", "<="),
        ("properties.x>1", ">"),
        ("properties.x>=1", ">="),
        ("properties.x >=1", ">="),  # Segment lexes this as ">" then "="
        ("userId!=null", "!="),  # Segment's lexer rejects this
    ],
)
def test_operators_need_no_spaces(text: str, operator: str) -> None:
    node = tree(text)
    assert isinstance(node, Comparison)
    assert node.operator == operator


def test_quoted_numbers_after_order_operators_become_numbers() -> None:
    assert tree('properties.total > " 100 "') == Comparison(("properties", "total"), ">", 100)
    assert tree('properties.total <= "1.5"') == Comparison(("properties", "total"), "<=", 1.5)


def test_function_arguments() -> None:
    assert tree("contains( properties.sku , 123 )") == Function("contains", ("properties", "sku"), "123")
    assert tree("contains(properties.sku, 1.50)") == Function("contains", ("properties", "sku"), "1.5")
    assert tree("contains(properties.flag, true)") == Function("contains", ("properties", "flag"), "true")
    assert tree("match(properties['a b'], 'x*')") == Function("match", ("properties", "a b"), "x*")


def test_segment_generated_triggers_keep_their_tree() -> None:
    # The shape of Segment's generateFql output (reference section 2.7): one flat group.
    text = (
        'event = "Order Completed" and properties.total > 100 and properties.coupon != null and '
        'traits.vip = true and !contains(context.page.url, "test") and match(userId, "user-*") and '
        "properties.product\\ name = 5"
    )
    node = tree(text)
    assert isinstance(node, And)
    assert len(node.children) == 7
    event = {
        "event": "Order Completed",
        "userId": "user-1",
        "properties": {"total": 101, "coupon": "X", "product name": 5},
        "traits": {"vip": True},
        "context": {"page": {"url": "https://example.com/"}},
    }
    assert fql.parse(text)(event) is True
