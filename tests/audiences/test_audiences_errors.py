"""Malformed and ill-typed definitions: QuerySyntaxError at the right column, saying what was expected."""

from __future__ import annotations

import pytest

from gleap_actions.audiences import QuerySyntaxError, compile_definition
from gleap_actions.audiences.parser import MAX_PRIMARIES

ERRORS = [
    ("event('x').count() >= ", 23, "expected a value"),
    ("event(x).count() > 1", 7, "expected an event name as a quoted string, got 'x'"),
    (
        "event('x').within(7 weeks).count() > 1",
        21,
        "expected a unit: seconds, minutes, hours or days, got 'weeks'",
    ),
    ("event('x').within(7).count() > 1", 20, "expected a unit"),
    ("event('x').within(0 days).count() > 1", 19, "a whole number above 0"),
    ("event('x').within(1.5 days).count() > 1", 19, "a whole number above 0"),
    ("event('x').cnt() > 1", 12, "expected a filter (where(), within()"),
    ("event('x').count > 1", 18, "expected '(' after count, got '>'"),
    ("event('x') > 1", 12, "expected '.' and a reducer"),
    ("trait('x') = 1 AND", 19, "got end of definition"),
    ("trait('x') = 1 trait('y') = 2", 16, "expected AND, OR or the end of the definition, got 'trait'"),
    ("(trait('x') = 1", 16, "expected ')' to close the parenthesis"),
    ("trait('x').count() > 1", 12, "trait() gives a single value"),
    ("trait('x').foo(1)", 12, "expected a comparator such as '>= 1'"),
    ("trait('x') = 1)", 15, "expected AND, OR or the end"),
    ("event('x').unique(property('a')) > 1", 34, "only count() may follow unique()"),
    ("event('x').unique(property('a')).max(property('a'))", 34, "only count() may follow unique()"),
    ("event('x').sum() > 1", 16, "expected property() or context() as the argument of sum()"),
    ("event('x').sum(property('a') as string) > 1", 30, "'as' is allowed only in min(), max() and mode()"),
    ("event('x').max(property('a') as date) > 1", 33, "expected number or string after as, got 'date'"),
    (
        "event('x').within(parent: 7 days).count() > 1",
        12,
        "needs an event() chain inside another event's where()",
    ),
    ("event('x').where(property(parent: 'a') = 1).count() > 1", 18, "property(parent: ...) needs"),
    ("event('x').where(trait('a')).count() > 1", 18, "expected a comparison (such as '>= 1') inside where()"),
    ("event('x').where(trait('a') = 1 OR trait('b')).count() > 1", 36, "after OR"),
    ("trait('x') = 'abc", 14, "unterminated string"),
    ("trait('x') = 1 # 2", 16, "unexpected character '#'"),
    ("NOT event('x').count()", 5, "expected a comparison (such as '>= 1') after NOT"),
    ("event('x').count() AND trait('y') = 1", 20, "before AND"),
    ("event('x').between(7 days, 7 days).count() > 1", 12, "two different durations"),
    ("event('x').between(7 days).count() > 1", 26, "expected ',' between the two durations"),
    ("literal(5) = 5", 1, "cannot start with literal()"),
    ("5 = 5", 1, "expected a condition"),
    ("foo('x') = 1", 1, "expected one of event(), trait()"),
    ("trait('x') = [1]", 14, "expected a value"),
    ("trait('x').contains()", 21, "expected a value"),
    ("trait('x').exists(1)", 19, "exists() takes no argument"),
    ("event('x').sources({include: 'a'}).count() > 1", 21, "expected exclude"),
    ("trait('x') = trait('y').count()", 25, "trait() gives a single value"),
    ("trait('x') = event('y').unique(property('a'))", 14, "a list cannot be compared"),
    ("", 1, "expected a condition"),
    ("trait('x') > 2024-13-01", 14, "2024-13-01 is not a valid date"),
    ("trait('x') = ²", 14, "unexpected character '²'"),
    ("trait('x').before_date('soon')", 24, "expected a date such as 2024-01-31"),
    ("trait('x').after_date(5 days)", 25, "expected ')' to close after_date("),
]


@pytest.mark.parametrize(("text", "column", "message"), ERRORS)
def test_syntax_errors_give_the_column_and_what_was_expected(text: str, column: int, message: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        compile_definition(text)
    assert message in caught.value.reason
    assert caught.value.column == column
    assert str(caught.value) == f"column {column}: {caught.value.reason}"


def test_an_audience_must_end_in_a_comparison() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        compile_definition("event('x').count()")
    assert caught.value.column == 19
    assert "an audience must end in a boolean" in str(caught.value)
    with pytest.raises(QuerySyntaxError, match="must end in a boolean"):
        compile_definition("event('x').unique(property('a')).count()")


def test_a_computed_trait_must_end_in_a_value() -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        compile_definition("event('x').count() > 1", kind="computed_trait")
    assert caught.value.column == 20
    assert "a computed trait must end in a value" in str(caught.value)
    with pytest.raises(QuerySyntaxError, match="must end in a value"):
        compile_definition("trait('a') = 1 OR trait('b') = 1", kind="computed_trait")
    for text in ("trait('plan')", "event('x').unique(property('a'))", "event('x').count()"):
        assert compile_definition(text, kind="computed_trait").kind == "computed_trait"


def test_at_most_50_primary_expressions() -> None:
    fifty = " OR ".join(f"trait('t{i}') = 1" for i in range(MAX_PRIMARIES))
    compile_definition(fifty)
    with pytest.raises(QuerySyntaxError) as caught:
        compile_definition(fifty + " OR event('x').count() > 1")
    assert caught.value.column == len(fifty) + 5
    assert "at most 50 primary expressions" in str(caught.value)


def test_older_documented_forms_are_accepted() -> None:
    for text in (
        "trait('x').contains(['a', 'b'])",
        "trait('x').one_of(['a'])",
        "event('x').sources({exclude: ['a', 'b']}).count() >= 1",
        "trait('x').gte(1) AND trait('y').is_set()",
    ):
        compile_definition(text)
