"""Property tests: any text compiles or raises QuerySyntaxError; compiled definitions never raise on any
JSON events; deep nesting is refused with a clear error."""

# ruff: noqa: E501  (definitions read best one a line)

from __future__ import annotations

from typing import Any

import pytest
from audience_support import NOW, track
from hypothesis import given, settings
from hypothesis import strategies as st

from gleap_actions.audiences import QuerySyntaxError, compile_definition
from gleap_actions.audiences.parser import MAX_DEPTH, MAX_PRIMARIES

FRAGMENTS = [
    "event('A')", "event('B')", "trait('t')", "trait('a.b')", "property('p')", "property(parent: 'p')",
    "context('page.url')", "literal(1)", ".where(", ".within(", ".between(", ".sources({exclude: 'x'})",
    ".expires_after(1 hour)", ".count()", ".sum(property('p'))", ".mode(property('p'), 2)", ".unique(",
    ".first(property('p'))", ".max(property('p') as string)", " = ", " != ", " >= ", " < ", "'x'", "5", ".5",
    "2024-01-01", "2024-13-45", "7 days", "1 hour", ",", "(", ")", " AND ", " OR ", "NOT ", ".exists()",
    ".contains('a', 'b')", ".one_of([1, 2])", ".within_last(7 days)", ".before_date('2024-01-01')", "[",
    "]", "{", "}", ":", "'", "\\", "parent:", "as", "\n", "ANY ", "entity('o')", "#", "-", "==",
]  # fmt: skip
SETTINGS = settings(max_examples=300, deadline=None)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=6)
json_values = st.recursive(
    json_scalars | st.sampled_from(["2024-05-01T00:00:00Z", "A", "B", "track", "identify", "page"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["p", "t", "a", "b"]), inner),
    max_leaves=8,
)
events = st.lists(
    st.fixed_dictionaries(
        {"type": st.sampled_from(["track", "identify", "page", "screen", "alias", 5])},
        optional={
            "event": st.sampled_from(["A", "B"]) | json_values,
            "userId": st.sampled_from(["u1", ""]) | json_values,
            "timestamp": st.sampled_from(["2024-05-01T00:00:00Z", "2024-06-01T11:00:00+02:00", "bad"])
            | json_values,
            "properties": json_values,
            "traits": json_values,
            "context": json_values,
            "name": json_values,
        },
    ),
    max_size=6,
)

DEFINITIONS = [
    compile_definition(text, kind=kind)  # type: ignore[arg-type]
    for kind, text in [
        ("audience", "event('A').where(property('p') > 1 OR property('p').contains('x')).within(7 days).count() >= 1"),
        ("audience", "event('A').where(event('B').where(property('p') = property(parent: 'p')).within(parent: 1 day).count() >= 1).count() >= 1"),
        ("audience", "trait('t').within_last(7 days) OR trait('a.b').one_of(1, 'x') OR trait('t') < 2024-01-01"),
        ("computed_trait", "event('A').mode(property('p') as array, 1)"),
        ("computed_trait", "event('B').expires_after(1 hour).unique(context('page.url'))"),
        ("computed_trait", "event('Page Viewed').max(property('p') as string)"),
        ("computed_trait", "event('A').avg(property('p'))"),
    ]
]  # fmt: skip


@SETTINGS
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=3), max_size=12).map("".join))
def test_any_text_compiles_or_raises_a_syntax_error(text: str) -> None:
    for kind in ("audience", "computed_trait"):
        try:
            compile_definition(text, kind=kind)  # type: ignore[arg-type]
        except QuerySyntaxError as exc:
            assert 1 <= exc.column <= len(text) + 1


@SETTINGS
@given(events)
def test_compiled_definitions_never_raise_on_json_events(stream: list[dict[str, Any]]) -> None:
    for definition in DEFINITIONS:
        definition.evaluate(stream, NOW)
        definition.next_change(stream, NOW)


@pytest.mark.parametrize("opening", ["(", "NOT ", "NOT ("])
def test_deep_nesting_is_refused(opening: str) -> None:
    text = opening * (MAX_DEPTH + 1) + "trait('x') = 1" + ")" * (opening.count("(") * (MAX_DEPTH + 1))
    with pytest.raises(QuerySyntaxError, match=f"nested more than {MAX_DEPTH} levels deep"):
        compile_definition(text)
    shallow = opening * 10 + "trait('x') = 1" + ")" * (opening.count("(") * 10)
    compile_definition(shallow)


def test_nested_where_is_bounded_by_the_primary_limit() -> None:
    def nested(levels: int) -> str:
        return (
            "event('A').where(" * (levels - 1) + "event('A').count() >= 1" + ").count() >= 1" * (levels - 1)
        )

    definition = compile_definition(nested(MAX_PRIMARIES))
    assert definition.evaluate([track("A")], NOW) is True
    with pytest.raises(QuerySyntaxError, match="at most 50 primary expressions"):
        compile_definition(nested(MAX_PRIMARIES + 1))
