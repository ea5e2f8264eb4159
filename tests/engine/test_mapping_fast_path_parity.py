"""`@path` and `@if` have two implementations: the source generated for a mapping object
(`_compile_clean_object`, which inlines fixed paths and `@if`/`exists`) and the directive resolvers
(`directives.py`). One table runs against both, and against an object nested in `@merge`, whose
values are resolved raw (undefined kept until `@merge` removes it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gleap_actions.mapping import MISSING, compile_mapping

Runner = Callable[[Any, dict[str, Any]], dict[str, Any]]


def fast(node: Any, event: dict[str, Any]) -> dict[str, Any]:
    """The node as a value of the top-level object: the generated source."""
    result: dict[str, Any] = compile_mapping({"v": node})(event)
    return result


def general(node: Any, event: dict[str, Any]) -> dict[str, Any]:
    """The node as the root of the mapping: its directive's resolver alone."""
    value = compile_mapping(node)(event)
    return {} if value is MISSING else {"v": value}


def merged(node: Any, event: dict[str, Any]) -> dict[str, Any]:
    """The node inside an object merged by `@merge`: resolved raw, then cleaned."""
    result: dict[str, Any] = compile_mapping({"@merge": {"objects": [{"v": node}], "direction": "right"}})(
        event
    )
    return result


RUNNERS = {"fast": fast, "general": general, "merged": merged}

EVENT: dict[str, Any] = {
    "userId": "u-1",
    "traits": {
        "email": "ada@example.com",
        "title": "",
        "trial": False,
        "seats": 0,
        "nickname": None,
        "tags": ["a", None, "b"],
        "company": {"name": "Engines", "size": None},
        "blank": [None, ""],
        "x y": "spaced",
    },
    "list": [{"id": 1}, {"id": 2}],
    "text": "abc",
    "zero": 0,
    "null": None,
}

IF = "@if"
PRESENT = {"@path": "$.traits.email"}
ABSENT = {"@path": "$.traits.missing"}
NULL = {"@path": "$.traits.nickname"}
FALSY_EXISTING = {"@path": "$.traits.trial"}
EMPTY = {"@path": "$.traits.title"}

# (node, expected value; MISSING: the key is left out)
CASES: list[tuple[Any, Any]] = [
    # @path: fixed paths of one, two and more segments
    ({"@path": "$.userId"}, "u-1"),
    ({"@path": "$.traits.email"}, "ada@example.com"),
    ({"@path": "$.traits.company.name"}, "Engines"),
    ({"@path": "$.traits.company.size"}, None),
    ({"@path": "$.traits.company.missing"}, MISSING),
    ({"@path": "$.missing.deeper.still"}, MISSING),
    ({"@path": "traits.email"}, "ada@example.com"),
    ({"@path": "$.traits['x y']"}, "spaced"),
    # a falsy intermediate is the result; strings are leaves; arrays answer indices and length
    ({"@path": "$.traits.nickname.first"}, None),
    ({"@path": "$.traits.trial.x"}, False),
    ({"@path": "$.zero.a.b"}, 0),
    ({"@path": "$.traits.title.length"}, ""),
    ({"@path": "$.text.length"}, MISSING),
    ({"@path": "$.text.0"}, MISSING),
    ({"@path": "$.list.1.id"}, 2),
    ({"@path": "$.list[0].id"}, 1),
    ({"@path": "$.list.length"}, 2),
    ({"@path": "$.list.01"}, MISSING),
    ({"@path": "$.list.-1"}, MISSING),
    ({"@path": "$.list.5.id"}, MISSING),
    ({"@path": "$.traits.tags.1"}, None),
    ({"@path": "$.traits.tags.1.x"}, None),
    # @if with exists: present (even falsy or empty) takes then; null and missing take else
    ({IF: {"exists": PRESENT, "then": "yes", "else": "no"}}, "yes"),
    ({IF: {"exists": EMPTY, "then": "yes", "else": "no"}}, "yes"),
    ({IF: {"exists": FALSY_EXISTING, "then": "yes", "else": "no"}}, "yes"),
    ({IF: {"exists": NULL, "then": "yes", "else": "no"}}, "no"),
    ({IF: {"exists": ABSENT, "then": "yes", "else": "no"}}, "no"),
    ({IF: {"exists": {"@path": "$.traits.nickname.deep"}, "then": "yes", "else": "no"}}, "no"),
    ({IF: {"exists": "raw text counts as existing", "then": "yes", "else": "no"}}, "yes"),
    # an exists that is not a fixed path runs through its resolver, in the object's context
    ({IF: {"exists": {"@path": "$."}, "then": "yes", "else": "no"}}, "yes"),
    ({IF: {"exists": {"@json": {"mode": "encode", "value": ABSENT}}, "then": "yes", "else": "no"}}, "no"),
    ({IF: {"exists": {"@json": {"mode": "encode", "value": NULL}}, "then": "yes", "else": "no"}}, "yes"),
    # then is used whenever present, whatever its value; no then: missing
    ({IF: {"exists": PRESENT, "then": False}}, False),
    ({IF: {"exists": PRESENT, "then": None}}, None),
    ({IF: {"exists": PRESENT, "then": 0}}, 0),
    ({IF: {"exists": PRESENT, "then": ""}}, ""),
    ({IF: {"exists": PRESENT, "else": "no"}}, MISSING),
    ({IF: {"exists": PRESENT, "then": ABSENT}}, MISSING),
    # else is used only when truthy (Segment's asymmetry): a falsy else leaves the key out
    ({IF: {"exists": ABSENT, "then": 1, "else": False}}, MISSING),
    ({IF: {"exists": ABSENT, "then": 1, "else": None}}, MISSING),
    ({IF: {"exists": ABSENT, "then": 1, "else": 0}}, MISSING),
    ({IF: {"exists": ABSENT, "then": 1, "else": ""}}, MISSING),
    ({IF: {"exists": ABSENT, "then": 1}}, MISSING),
    ({IF: {"exists": ABSENT, "then": 1, "else": {}}}, {}),
    ({IF: {"exists": ABSENT, "then": 1, "else": []}}, []),
    ({IF: {"exists": ABSENT, "then": 1, "else": "0"}}, "0"),
    ({IF: {"exists": ABSENT, "then": 1, "else": {"@path": "$.userId"}}}, "u-1"),
    ({IF: {"exists": ABSENT, "then": 1, "else": ABSENT}}, MISSING),
    # only the chosen branch is resolved (the other would raise)
    ({IF: {"exists": PRESENT, "then": 1, "else": {"@path": {"@path": "$.missing"}}}}, 1),
    ({IF: {"exists": ABSENT, "then": {"@path": {"@path": "$.missing"}}, "else": 2}}, 2),
    # exists wins over blank whenever present
    ({IF: {"exists": EMPTY, "blank": EMPTY, "then": 1, "else": 2}}, 1),
    ({IF: {"exists": ABSENT, "blank": PRESENT, "then": 1, "else": 2}}, 2),
    # @if with blank: JavaScript's loose `== ""`, null and missing are blank
    ({IF: {"blank": PRESENT, "then": "filled", "else": "blank"}}, "filled"),
    ({IF: {"blank": EMPTY, "then": "filled", "else": "blank"}}, "blank"),
    ({IF: {"blank": FALSY_EXISTING, "then": "filled", "else": "blank"}}, "blank"),
    ({IF: {"blank": {"@path": "$.traits.seats"}, "then": "filled", "else": "blank"}}, "blank"),
    ({IF: {"blank": {"@path": "$.traits.blank.1"}, "then": "filled", "else": "blank"}}, "blank"),
    ({IF: {"blank": {"@path": "$.traits.company"}, "then": "filled", "else": "blank"}}, "filled"),
    ({IF: {"blank": {"@path": "$.list"}, "then": "filled", "else": "blank"}}, "filled"),
    ({IF: {"blank": NULL, "then": "filled", "else": "blank"}}, "blank"),
    ({IF: {"blank": ABSENT, "then": "filled", "else": "blank"}}, "blank"),
    ({IF: {"blank": PRESENT, "then": False, "else": "blank"}}, False),
    ({IF: {"blank": PRESENT, "else": "blank"}}, MISSING),
    # the same else rule on the blank side
    ({IF: {"blank": ABSENT, "then": 1, "else": False}}, MISSING),
    ({IF: {"blank": ABSENT, "then": 1, "else": 0}}, MISSING),
    ({IF: {"blank": ABSENT, "then": 1, "else": None}}, MISSING),
    ({IF: {"blank": ABSENT, "then": 1, "else": ""}}, MISSING),
    ({IF: {"blank": ABSENT, "then": 1}}, MISSING),
    ({IF: {"blank": EMPTY, "then": 1, "else": {}}}, {}),
    ({IF: {"blank": EMPTY, "then": 1, "else": "x"}}, "x"),
    # nested: an @if choosing an @if
    ({IF: {"exists": PRESENT, "then": {IF: {"blank": EMPTY, "then": 1, "else": False}}}}, MISSING),
    ({IF: {"exists": ABSENT, "else": {IF: {"exists": PRESENT, "then": "inner"}}}}, "inner"),
]


@pytest.mark.parametrize("runner", RUNNERS.values(), ids=RUNNERS.keys())
@pytest.mark.parametrize(("node", "expected"), CASES)
def test_each_implementation_agrees_with_the_table(runner: Runner, node: Any, expected: Any) -> None:
    assert runner(node, EVENT) == ({} if expected is MISSING else {"v": expected})


@pytest.mark.parametrize("event", [{}, {"traits": None}, {"traits": []}, {"traits": "text"}, {"traits": 0}])
@pytest.mark.parametrize("node", [node for node, _ in CASES if "@path" in node])
def test_paths_agree_on_events_of_other_shapes(node: Any, event: dict[str, Any]) -> None:
    results = [runner(node, event) for runner in RUNNERS.values()]
    assert results[0] == results[1] == results[2]


def test_the_runners_take_the_paths_they_are_named_for() -> None:
    """Guards the table: the top-level object is generated source, a root directive its resolver."""
    top = compile_mapping({"v": {IF: {"exists": PRESENT, "then": 1}}})
    assert top._resolve.__code__.co_filename == "<mapping object>"
    root_if = compile_mapping({IF: {"exists": PRESENT, "then": 1}})
    assert root_if._resolve.__code__.co_name == "resolve_if_exists"  # directives.compile_if's resolver
    root_path = compile_mapping({"@path": "$.a.b.c"})
    assert root_path._resolve.__module__ == "gleap_actions.engine.mapping.paths"  # compile_getter's
