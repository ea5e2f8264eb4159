"""Malformed triggers: a clear FqlSyntaxError saying what was expected, what was found and where."""

from __future__ import annotations

import pytest

from gleap_actions import fql
from gleap_actions.engine.errors import ActionsError, FqlSyntaxError
from gleap_actions.engine.fql.parser import MAX_DEPTH


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        # Segment reports these as "Cannot read properties of undefined".
        (
            "",
            1,
            "expected a condition (e.g. type = \"track\"), contains(...), match(...), 'not' or '(', "
            "found end of trigger",
        ),
        ("   ", 4, "found end of trigger"),
        ("typo", 5, "expected an operator (=, !=, <, <=, >, >=) after field typo, found end of trigger"),
        ('type * "32456"', 6, "found '*'"),
        ("properties.price>=", 19, "expected a number after '>=', found end of trigger"),
        # Segment accepts these, silently matching nothing or dropping conditions.
        (
            "type = ",
            8,
            "expected a value (a quoted string, a number, true, false or null) after '=', "
            "found end of trigger",
        ),
        ("type = track", 8, 'found field track (to compare with text, quote it: "track")'),
        ('type = "track" and', 19, "expected a condition"),
        ('type = "track" or', 18, "found end of trigger"),
        ('type = "track" event = "A"', 16, "expected 'and', 'or' or end of trigger, found field event"),
        ('type = "track")', 15, "(this ')' closes nothing), found ')'"),
        ('(type = "track"', 16, "or ')' to close the '(' at column 1, found end of trigger"),
        ('((type = "a") or (type = "b")', 30, "to close the '(' at column 1"),
        (
            'type = "a" and and event = "b"',
            16,
            'expected a condition (e.g. type = "track"), contains(...), '
            "match(...), 'not' or '(', found 'and'",
        ),
        ('or type = "a"', 1, "found 'or'"),
        ('type = "a" and ()', 17, "found ')'"),
        ("()", 2, "found ')'"),
        ("!", 2, "expected a condition"),
        ("not", 4, "expected a condition"),
        ('type = "a" and not', 19, "found end of trigger"),
        ("properties.price>1 <2", 20, "expected 'and', 'or' or end of trigger, found '<'"),
        ("properties.price = = 1", 20, "after '=', found '='"),
        ("properties.price == 1", 18, "expected '=' (FQL equality is a single '='), found '=='"),
        ("properties.price => 1", 19, "found '>'"),
        ('= "x"', 1, "expected a condition"),
        ('"track" = type', 1, 'found string "track"'),
        ("5 = properties.x", 1, "found number 5"),
        ("properties.x = properties.y", 16, "found field properties.y"),
        ("properties.x = NULL", 16, 'found field NULL (to compare with text, quote it: "NULL")'),
        ("properties.x = TRUE", 16, "found field TRUE"),
        # Strings.
        ('event = "Order Completed', 9, 'expected a closing " for the string, found end of trigger'),
        ("event = 'Order", 9, "expected a closing ' for the string"),
        ('event = "a\\"', 9, 'expected a closing "'),  # \" is an escaped quote
        ('event = "\\u12"', 10, "expected 4 hex digits after \\u, found '12\"'"),
        ('event = "\\uzzzz"', 10, "expected 4 hex digits after \\u, found 'zzzz'"),
        # Numbers.
        ("properties.x = 1.", 16, "expected a number, found '1.'"),
        ("properties.x = 1.2.3", 16, "expected a number, found '1.2.'"),
        ("properties.x = 12abc", 16, "expected a number, found '12a'"),
        ("properties.x = -", 16, "found '-'"),
        ("properties.x = .5", 16, "found '.'"),
        ("properties.x > 1e999", 16, "expected a number of reasonable size, found 1e999"),
        ("properties.x = " + "9" * 5000, 16, "expected a number of reasonable size"),
        # Order operators need numbers.
        ('properties.total > "abc"', 20, "expected a number after '>', found string \"abc\""),
        ('properties.total < ""', 20, "expected a number after '<'"),
        ("properties.total >= true", 21, "expected a number after '>=', found true"),
        ("properties.total <= null", 21, "found null"),
        # Paths.
        ("properties. = 1", 12, "expected a key after '.', found ' '"),
        ("properties..x = 1", 12, "expected a key after '.', found '.'"),
        ("properties.x. = 1", 14, "expected a key after '.'"),
        ("properties[x] = 1", 12, "expected a quoted key or an index after '[', found 'x'"),
        ("properties[] = 1", 12, "found ']'"),
        ('properties["a" = 1', 15, "expected ']', found ' '"),
        ("properties[-1] = 1", 12, "found '-'"),
        ("properties[0 = 1", 13, "expected ']'"),
        # a path cut short inside its brackets
        ("properties[", 12, "expected a quoted key or an index after '[', found end of trigger"),
        ("properties[12", 14, "expected ']', found end of trigger"),
        ('properties["a = 1', 12, 'expected a closing "'),
        ("properties.x\\", 13, "expected a character after '\\', found end of trigger"),
        ("@ = 1", 1, "found '@'"),
        ("properties.x\x00 = 1", 13, "found character U+0000"),
        # Functions.
        ("contains(", 10, "expected a field as the 1st argument of contains(), found end of trigger"),
        ('contains("x", event)', 10, 'expected a field as the 1st argument of contains(), found string "x"'),
        ('contains(event "x")', 16, "expected ',' after the 1st argument of contains(), found string \"x\""),
        ("contains(event)", 15, "expected ',' after the 1st argument of contains(), found ')'"),
        ("contains(event, )", 17, "expected a string as the 2nd argument of contains(), found ')'"),
        ("match(event, null)", 14, "expected a string as the 2nd argument of match(), found null"),
        ("match(event, abc)", 14, 'found field abc (to compare with text, quote it: "abc")'),
        ('match(event, "a*"', 18, "expected ')' to close match(, found end of trigger"),
        ('match(event, "a*", "b")', 18, "expected ')' to close match(, found ','"),
        ('contains(event, "a") = true', 22, "expected 'and', 'or' or end of trigger, found '='"),
        ('CONTAINS(event, "a")', 9, "after field CONTAINS, found '('"),
        ("!type", 6, "expected an operator"),
    ],
)
def test_malformed_triggers(text: str, column: int, message: str) -> None:
    with pytest.raises(FqlSyntaxError) as caught:
        fql.parse(text)
    error = caught.value
    assert message in error.reason, error.reason
    assert error.column == column, error.reason
    assert str(error) == f"{error.reason} at column {column}"
    assert error.text == text


def test_every_message_says_what_was_expected_and_found() -> None:
    for text in ["", "type", "type =", 'type = "a" or', "(", ")", "contains(x, 1", '"x', "a[", "a = 1 2"]:
        with pytest.raises(FqlSyntaxError) as caught:
            fql.parse(text)
        assert caught.value.reason.startswith("expected "), text
        assert ", found " in caught.value.reason, text


def test_errors_are_documented_value_errors() -> None:
    with pytest.raises(FqlSyntaxError) as caught:
        fql.matches('type = "track" and', {"type": "track"})
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, ActionsError)


def test_long_tokens_are_shortened_in_messages() -> None:
    with pytest.raises(FqlSyntaxError) as caught:
        fql.parse('properties.total > "' + "9" * 5000 + '"')
    assert caught.value.reason == "expected a number after '>', found string \"" + "9" * 36 + "..."
    assert caught.value.column == 20


def test_columns_count_characters_across_lines() -> None:
    with pytest.raises(FqlSyntaxError) as caught:
        fql.parse('type = "track"\nand event = ')
    assert caught.value.column == 28


def test_nesting_is_bounded() -> None:
    fql.parse("(" * MAX_DEPTH + 'type = "x"' + ")" * MAX_DEPTH)
    fql.parse("not " * MAX_DEPTH + 'type = "x"')
    with pytest.raises(FqlSyntaxError, match=f"expected at most {MAX_DEPTH} nested") as caught:
        fql.parse("(" * 10_000 + 'type = "x"' + ")" * 10_000)
    assert caught.value.column == MAX_DEPTH + 1
    with pytest.raises(FqlSyntaxError, match="nested"):
        fql.parse("!" * 10_000 + '(type = "x")')


def test_long_flat_triggers_parse() -> None:
    text = " or ".join(f'event = "E{i}"' for i in range(5000))
    trigger = fql.parse(text)
    assert trigger({"event": "E4999"}) is True
    assert trigger({"event": "E5000"}) is False
    assert fql.parse(" and ".join(f"properties.p{i} != null" for i in range(5000)))({}) is False
