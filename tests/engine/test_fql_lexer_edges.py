"""FQL edge cases at the lexer's and parser's boundaries: exact error messages, escapes and nesting depth."""

from __future__ import annotations

import pytest

from gleap_actions import fql
from gleap_actions.engine.errors import FqlSyntaxError
from gleap_actions.engine.fql.nodes import Comparison
from gleap_actions.engine.fql.parser import MAX_DEPTH

_VALUE = "expected a value (a quoted string, a number, true, false or null) after '='"
_OPERATOR = "expected an operator (=, !=, <, <=, >, >=) after field"
_NESTED = f"expected at most {MAX_DEPTH} nested parentheses or negations, found more"


def reason(text: str) -> tuple[str, int]:
    """The reason and column of the FqlSyntaxError that parsing `text` raises."""
    with pytest.raises(FqlSyntaxError) as caught:
        fql.parse(text)
    return caught.value.reason, caught.value.column


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ('"' + "x" * 38 + '"', '"' + "x" * 38 + '"'),  # 40 characters: the limit, shown whole
        ('"' + "x" * 39 + '"', '"' + "x" * 36 + "..."),  # 41: cut to 37 and "..."
    ],
)
def test_tokens_are_shortened_only_beyond_40_characters(text: str, found: str) -> None:
    assert reason(f"properties.total > {text}") == (f"expected a number after '>', found string {found}", 20)


def test_a_field_of_exactly_40_characters_is_named_whole() -> None:
    field = "p" * 40
    assert reason(field) == (f"{_OPERATOR} {field}, found end of trigger", 41)


@pytest.mark.parametrize(
    ("word", "described"),
    [
        # keywords are quoted as written, whatever their case
        ("not", "'not'"),
        ("NOT", "'NOT'"),
        ("Not", "'Not'"),
        # the literals only in lower case, as they are only literals then
        ("true", "true"),
        ("false", "false"),
        ("null", "null"),
        ("FALSE", "field FALSE"),
        ("False", "field False"),
    ],
)
def test_how_messages_name_keywords_and_literals(word: str, described: str) -> None:
    assert reason(f'type = "a" {word}') == (f"expected 'and', 'or' or end of trigger, found {described}", 12)


def test_a_bare_word_as_a_value_is_told_to_be_quoted() -> None:
    assert reason("type = track") == (
        f'{_VALUE}, found field track (to compare with text, quote it: "track")',
        8,
    )
    assert reason("type = not") == (f"{_VALUE}, found 'not' (to compare with text, quote it: \"not\")", 8)


@pytest.mark.parametrize(
    ("value", "found"),
    [
        ("properties.y", "field properties.y"),  # a dotted path is no word to quote
        ("tru\\e", "field tru\\e"),  # nor is an escaped one: it is not the literal true
        ('properties["y"]', 'field properties["y"]'),
    ],
)
def test_a_path_as_a_value_gets_no_quoting_hint(value: str, found: str) -> None:
    assert reason(f"type = {value}") == (f"{_VALUE}, found {found}", 8)


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("an\\d", ("and",)),  # an escaped keyword is a field, not the keyword
        ("O\\R", ("OR",)),
        ("contain\\s", ("contains",)),
        ("a\\b", ("ab",)),  # a key ending in an escape at the end of the path
    ],
)
def test_escaped_keys_are_fields_never_keywords(key: str, path: tuple[str, ...]) -> None:
    assert fql.parse(f"{key} = 1").tree == Comparison(path, "=", 1)


def test_contains_with_an_escape_is_a_field_not_the_function() -> None:
    assert reason('contain\\s(event, "x")') == (f"{_OPERATOR} contain\\s, found '('", 10)


def test_a_backslash_in_a_key_needs_a_character_after_it() -> None:
    assert reason("a\\") == ("expected a character after '\\', found end of trigger", 2)
    assert reason("properties.x\\") == ("expected a character after '\\', found end of trigger", 13)
    # one character after the backslash is enough, even at the very end of the trigger
    assert reason("a\\b") == (f"{_OPERATOR} a\\b, found end of trigger", 4)


@pytest.mark.parametrize("text", ['event = "a\\', "event = 'a\\", 'event = "\\'])
def test_a_string_ending_in_a_backslash_is_unclosed(text: str) -> None:
    quote = text[8]
    assert reason(text) == (f"expected a closing {quote} for the string, found end of trigger", 9)


@pytest.mark.parametrize(
    ("literal", "value"),
    [
        # a high surrogate (D800-DBFF) then a low one (DC00-DFFF) is one character
        (r'"\ud83d\ude00"', "\U0001f600"),
        (r'"\ud800\udc00"', "\U00010000"),
        (r'"\udbff\udfff"', "\U0010ffff"),
        (r'"\uD83D\uDE00!"', "\U0001f600!"),
        # anything else is one character per escape, lone surrogates included (as in JSON.parse)
        (r'"\ud83d"', "\ud83d"),
        (r'"\ud83dx"', "\ud83dx"),
        (r'"\ud83d\u0041"', "\ud83dA"),
        (r'"\ud800\ue000"', "\ud800\ue000"),
        (r'"\udbff\ud800"', "\udbff\ud800"),
        (r'"\udc00\udc00"', "\udc00\udc00"),
        (r'"\udfff\ude00"', "\udfff\ude00"),
        (r'"\ue000\udc00"', "\ue000\udc00"),
        (r'"\u0041\udc00"', "A\udc00"),
        (r'"\ud7ff\udc00"', "\ud7ff\udc00"),
    ],
)
def test_unicode_escapes_and_surrogate_pairs(literal: str, value: str) -> None:
    assert fql.parse(f"event = {literal}").tree == Comparison(("event",), "=", value)


def test_a_high_surrogate_before_a_bad_escape_reports_the_escape() -> None:
    assert reason(r'event = "\ud83d\uzz"') == ("expected 4 hex digits after \\u, found 'zz\"'", 16)


def nested(opening: str) -> str:
    """`opening` (each "(", "!" or "not " one level) around a comparison, its parentheses closed."""
    return opening + "a = 1" + ")" * opening.count("(")


@pytest.mark.parametrize(
    "text",
    [
        nested("(" * MAX_DEPTH),
        nested("!" * MAX_DEPTH),
        nested("not " * MAX_DEPTH),
        nested("!(" * (MAX_DEPTH // 2)),
        nested("(not " * (MAX_DEPTH // 2)),
        # a closed group or negation gives back its level to what follows it
        "(b = 1) and " + nested("(" * MAX_DEPTH),
        "!b = 1 and " + nested("(" * MAX_DEPTH),
        "not b = 1 and " + nested("!" * MAX_DEPTH),
        "(" * (MAX_DEPTH - 1) + "(b = 1) and !c = 1 and " + nested("(") + ")" * (MAX_DEPTH - 1),
        # a negated function is one level less
        "!" * MAX_DEPTH + 'contains(event, "x")',
        "!" * (MAX_DEPTH - 1) + '!!contains(event, "x")',
    ],
)
def test_nesting_up_to_the_limit_parses(text: str) -> None:
    fql.parse(text)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        (nested("(" * (MAX_DEPTH + 1)), MAX_DEPTH + 1),
        (nested("!" * (MAX_DEPTH + 1)), MAX_DEPTH + 1),
        (nested("!(" * (MAX_DEPTH // 2) + "!"), MAX_DEPTH + 1),
        (nested("(!" * (MAX_DEPTH // 2) + "("), MAX_DEPTH + 1),
        ("!b = 1 and " + nested("(" * (MAX_DEPTH + 1)), 12 + MAX_DEPTH),
        ("(b = 1) and " + nested("(" * (MAX_DEPTH + 1)), 13 + MAX_DEPTH),
        # after a closed group or negation the level is what it was before it, not lower
        ("(" * (MAX_DEPTH - 1) + "(b = 1) and " + nested("((") + ")" * (MAX_DEPTH - 1), MAX_DEPTH + 13),
        ("(" * (MAX_DEPTH - 1) + "!b = 1 and " + nested("!!") + ")" * (MAX_DEPTH - 1), MAX_DEPTH + 12),
        ("!" * (MAX_DEPTH - 2) + "(!b = 1 and " + nested("!!") + ")", MAX_DEPTH + 12),
    ],
)
def test_nesting_one_level_past_the_limit_is_rejected(text: str, column: int) -> None:
    assert reason(text) == (_NESTED, column)


def test_a_doubled_equals_sign_is_named_exactly() -> None:
    assert reason("properties.price == 1") == ("expected '=' (FQL equality is a single '='), found '=='", 18)


@pytest.mark.parametrize(
    ("text", "found", "column"),
    [
        ('type = "a" !', "expected 'and', 'or' or end of trigger, found '!'", 12),
        ("type = !", f"{_VALUE}, found '!'", 8),
        ("properties.x > !", "expected a number after '>', found '!'", 16),
    ],
)
def test_a_misplaced_bang_is_named_as_written(text: str, found: str, column: int) -> None:
    assert reason(text) == (found, column)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        # `X` starts no operator, string or number: only letters, `_`, `$`, `\` and `[` start a path
        ("X = 1", ("X",)),
        ("Xbox = 1", ("Xbox",)),
        ("X1 = 1", ("X1",)),
        ("X.X = 1", ("X", "X")),
        ("x1 = 1", ("x1",)),
    ],
)
def test_a_field_may_start_with_any_letter(text: str, path: tuple[str, ...]) -> None:
    trigger = fql.parse(text)
    assert trigger.tree == Comparison(path, "=", 1)
    event: dict[str, object] = {path[0]: {"X": 1}} if len(path) == 2 else {path[0]: 1}
    assert trigger(event) is True
