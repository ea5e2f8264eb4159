"""Mapping validation: Segment's messages and locations, every problem at once (reference 1.7)."""

from __future__ import annotations

import sys
from datetime import date
from typing import Any

import pytest

from gleap_actions.engine.mapping.validate import mapping_errors
from gleap_actions.mapping import MISSING, MappingValidationError, compile_mapping, validate_mapping


def errors(mapping: Any) -> list[str]:
    with pytest.raises(MappingValidationError) as caught:
        validate_mapping(mapping)
    assert str(caught.value) == "\n".join(caught.value.errors)
    return caught.value.errors


# Segment's invalid schema fixtures and the message each asserts
@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"@arrayPath": "$.foo"}, "/@arrayPath should be an array but it is a string."),
        (
            {"@if": {"exists": {"@path": "$.a"}, "then": {"@oops": 1}}},
            "/@if/then has an invalid directive: @oops.",
        ),
        ({"@path": True}, "/@path should be a string or a mapping directive but it is a boolean."),
        ({"@replace": {"value": "x"}}, '/@replace should have field "pattern" but it doesn\'t.'),
        ({"@replace": {"pattern": "x"}}, '/@replace should have field "value" but it doesn\'t.'),
        (
            {"@replace": {"pattern": "abcdefghijk", "value": "x"}},
            "/@replace/pattern should be a string of length 10 or less.",
        ),
        (
            {"@replace": {"pattern": "", "value": "x"}},
            "/@replace/pattern should be a string of length 1 or greater.",
        ),
        (
            {"@replace": {"pattern": "a", "replacement": "abcdefghijk", "value": "x"}},
            "/@replace/replacement should be a string of length 10 or less.",
        ),
        (
            {"@replace": {"pattern": "a", "global": "yes", "value": "x"}},
            "/@replace/global should be a boolean but it is a string.",
        ),
        (
            {"@replace": {"pattern": "a", "ignorecase": "yes", "value": "x"}},
            "/@replace/ignorecase should be a boolean but it is a string.",
        ),
        (
            {"@replace": {"pattern": "a", "value": 5}},
            "/@replace/value should be a string or a mapping directive but it is a number.",
        ),
        ({"@template": 5}, "/@template should be a string or a mapping directive but it is a number."),
        ({"@path": "$.a", "bar": 1}, "/ should only have one @-prefixed key but it has 2 keys."),
        ({"@path": "$.a", "@template": "b"}, "/ should only have one @-prefixed key but it has 2 keys."),
        ({"@oops": 1}, "/ has an invalid directive: @oops."),
        ({"@case": "not an object"}, "/@case should be an object but it is a string."),
        ({"@case": {"@path": "$.a"}}, "/@case should be an object but it is a directive."),
        ({"@case": {"operator": 1, "value": "x"}}, "/@case/operator should be a string but it is a number."),
        (
            {"@case": {"operator": "lower", "value": 1}},
            "/@case/value should be a string or a mapping directive but it is a number.",
        ),
        ({"@json": {"value": "x"}}, '/@json should have field "mode" but it doesn\'t.'),
        (
            {"@json": {"mode": "yaml", "value": "x"}},
            '/@json/mode should be one of encode, decode but it is "yaml".',
        ),
        (
            {"@merge": {"objects": "x", "direction": "right"}},
            "/@merge/objects should be an array but it is a string.",
        ),
        (
            {"@merge": {"objects": [], "direction": "up"}},
            '/@merge/direction should be one of left, right but it is "up".',
        ),
        (
            {"@merge": {"objects": [1], "direction": "right"}},
            "/@merge/objects/0 should be a object or a mapping directive but it is a number.",
        ),
        ({"@transform": {"apply": {}}}, '/@transform should have field "mapping" but it doesn\'t.'),
        (
            {"@transform": {"apply": "x", "mapping": {}}},
            "/@transform/apply should be a object or a mapping directive but it is a string.",
        ),
        ({"@flatten": {"separator": "."}}, '/@flatten should have field "value" but it doesn\'t.'),
        (
            {"@flatten": {"separator": 1, "value": "x"}},
            "/@flatten/separator should be a string but it is a number.",
        ),
        ({"@liquid": {"@path": "$.a"}}, "/@liquid should be a string but it is a directive."),
        ({"@arrayPath": []}, "/@arrayPath should be a string or a mapping directive but it is an undefined."),
        (
            {"@arrayPath": [{"a": 1}]},
            "/@arrayPath should be a string or a mapping directive but it is an object.",
        ),
        (
            {"@literal": date(2024, 1, 2)},
            "/@literal should be a mapping directive or a JSON value but it is a date.",
        ),
        ({"a": {1: "x"}}, "/a has a non-string key: 1."),
    ],
)
def test_segment_messages(mapping: Any, message: str) -> None:
    assert message in errors(mapping)


def test_every_problem_is_listed_with_its_location() -> None:
    mapping = {
        "obj": {"@path": "foo.bar", "oops": True},
        "hash": {"@template": {}},
        "list": [{"@oops": 1}, {"fine": [{"@path": 1}]}],
        "deep": {
            "@if": {
                "exists": {"@path": "$.a"},
                "then": {"x": {"@replace": {"pattern": "abcdefghijkl", "value": "v"}}},
            }
        },
    }
    assert errors(mapping) == [
        "/obj should only have one @-prefixed key but it has 2 keys.",
        "/hash/@template should be a string or a mapping directive but it is an object.",
        "/list/0 has an invalid directive: @oops.",
        "/list/1/fine/0/@path should be a string or a mapping directive but it is a number.",
        "/deep/@if/then/x/@replace/pattern should be a string of length 10 or less.",
    ]


def test_directives_inside_literal_and_array_path_shapes_are_validated() -> None:
    assert errors({"@literal": {"a": {"@oops": 1}}}) == ["/@literal/a has an invalid directive: @oops."]
    shape = {"id": {"@path": 5}}
    assert errors({"@arrayPath": ["$.p", shape]}) == [
        "/@arrayPath/id/@path should be a string or a mapping directive but it is a number."
    ]


# Checks Segment makes when an event arrives, on the mapping alone: reported at validation here
@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"@if": {"then": 1}}, '/@if requires an "exists" key or a "blank" key.'),
        ({"@if": {"exists": False, "then": 1}}, '/@if requires an "exists" key or a "blank" key.'),
        ({"@if": {"exists": None, "blank": 0}}, '/@if requires an "exists" key or a "blank" key.'),
        ({"@case": {"value": "x"}}, '/@case requires a "operator" key.'),
        (
            {"@case": {"operator": "title", "value": "x"}},
            '/@case operator key should have a value of "lower" or "upper".',
        ),
        ({"@json": {"mode": "encode", "value": None}}, '/@json requires a "value" key.'),
        ({"@json": {"mode": "encode", "value": 0}}, '/@json requires a "value" key.'),
        ({"@flatten": {"value": "x"}}, '/@flatten requires a "separator" key.'),
        ({"@flatten": {"value": "x", "separator": ""}}, '/@flatten requires a "separator" key.'),
        ({"@merge": {"objects": []}}, '/@merge requires a "direction" key.'),
        (
            {"@replace": {"pattern": "a", "pattern2": "abcdefghijk", "value": "x"}},
            "/@replace/pattern2 should be a string of length 10 or less.",
        ),
        (
            {"@replace": {"pattern": "a", "pattern2": "b", "replacement2": "abcdefghijk", "value": "x"}},
            "/@replace/replacement2 should be a string of length 10 or less.",
        ),
        ({"@liquid": "x" * 1001}, "/@liquid liquid template values are limited to 1000 characters."),
        ({"@liquid": "{% for x in y %}{{x}}{% endfor %}"}, '/@liquid tag "for" is disabled.'),
        ({"@liquid": "{{ unclosed"}, "/@liquid expected '}}', found end of file."),
        (
            {"__segment_internal_directive": {"@a": {}, "@b": {}}},
            "/__segment_internal_directive The root mapping must only have a single directive object.",
        ),
        (
            {"__segment_internal_directive": {"@transform": 1}},
            "/__segment_internal_directive The root directive must be an object.",
        ),
        (
            {"__segment_internal_directive": {}},
            "/__segment_internal_directive The root directive must be an object.",
        ),
    ],
)
def test_mapping_only_runtime_checks_fail_validation(mapping: Any, message: str) -> None:
    assert message in errors(mapping)


@pytest.mark.parametrize(
    "mapping",
    [
        {"@case": {"operator": "title", "value": ""}},  # value "" -> always missing
        {"@replace": {"pattern": "a", "pattern2": "abcdefghijk", "value": ""}},
        {"@if": {"exists": 0, "blank": {"@path": "$.a"}}},  # exists wins; no then
    ],
)
def test_runtime_checks_that_never_run_are_not_errors(mapping: Any) -> None:
    assert mapping_errors(mapping) == []
    compiled = compile_mapping(mapping)
    assert compiled({"a": "x"}) is MISSING
    assert compile_mapping({"k": mapping, "other": 1})({"a": "x"}) == {"other": 1}


# (mapping, event, what it resolves to)
VALID: list[tuple[Any, dict[str, Any], Any]] = [
    ({"@if": {"exists": {"@path": "$.a"}, "else": {"@path": "$.b"}}}, {"b": 2}, 2),
    ({"@if": {"exists": {"@path": "$.a"}, "else": {"@path": "$.b"}}}, {"a": 1, "b": 2}, MISSING),
    ({"@if": {"exists": 1, "then": 2}}, {}, 2),
    ({"@path": {"@path": "$.a"}}, {"a": "b", "b": 7}, 7),
    ({"@template": {"@path": "$.a"}}, {"a": "hi {{b}}", "b": 7}, "hi 7"),
    ({"@replace": {"pattern": "a", "value": {"@path": "$.a"}}}, {"a": "banana"}, "bnn"),
    ({"@template": "{{a}}", "_metadata": {"type": "string", "@weird": {"@oops": 1}}}, {"a": "x"}, "x"),
    (["a", 1, None, {"b": [True]}], {}, ["a", 1, None, {"b": [True]}]),
    ("raw", {}, "raw"),
    (None, {}, None),
    (
        {"@arrayPath": ["$.a", {"b": {"@path": "$.b"}}], "_metadata": {}},
        {"a": [{"b": 1}, {}]},
        [{"b": 1}, {}],
    ),
    ({"@json": {"mode": "ENCODE", "value": "x"}}, {}, MISSING),
    (
        {"@merge": {"objects": [{"@path": "$."}, {"a": 1}], "direction": "LEFT"}},
        {"a": 0, "b": 2},
        {"a": 1, "b": 2},
    ),
    ({"@transform": {"apply": {"@path": "$.a"}, "mapping": {"@path": "$.b"}}}, {"a": {"b": 5}}, 5),
    ({"@excludeWhenNull": {"a": None, "b": 1}}, {}, {"b": 1}),
    ({"@liquid": ""}, {"a": "x"}, ""),
    ({"@liquid": "{% if a %}{{ a | upcase }}{% endif %}"}, {"a": "x"}, "X"),
    ({"@liquid": "{% if a %}{{ a | upcase }}{% endif %}"}, {}, ""),
    (
        {"@flatten": {"value": {"@path": "$."}, "separator": ".", "omitArrays": True}},
        {"a": {"b": 1, "c": [1, {"d": 2}]}},
        {"a.b": 1, "a.c": [1, {"d": 2}]},
    ),
    ({"@case": {"operator": "upper", "value": {"@path": "$.a"}}}, {"a": "x"}, "X"),
]


@pytest.mark.parametrize(("mapping", "event", "expected"), VALID)
def test_valid_mappings(mapping: Any, event: dict[str, Any], expected: Any) -> None:
    assert mapping_errors(mapping) == []
    assert validate_mapping(mapping) is None
    result = compile_mapping(mapping)(event)
    assert result is expected if expected is MISSING else result == expected


def test_root_directive_inside_transform_apply_is_expanded_for_validation() -> None:
    apply = {
        "__segment_internal_directive": {"@merge": {"objects": [{"@path": "$."}], "direction": "right"}},
        "x": 1,
    }
    validate_mapping({"@transform": {"apply": apply, "mapping": {"@path": "$.x"}}})
    bad = {"__segment_internal_directive": {"@merge": 1}}
    assert errors({"@transform": {"apply": bad, "mapping": {}}}) == [
        "/@transform/apply/__segment_internal_directive The root directive must be an object."
    ]


@pytest.mark.parametrize("depth", [600, 5000])  # compiling fails first (600), or validating already does
def test_deeply_nested_mapping_is_a_validation_error(depth: int) -> None:
    mapping: Any = "x"
    for _ in range(depth):
        mapping = {"a": mapping}
    with pytest.raises(MappingValidationError) as caught:
        compile_mapping(mapping)
    assert caught.value.errors == ["/ is nested too deeply."]
    assert str(caught.value) == "/ is nested too deeply."


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"@merge": {"objects": {}, "direction": "right"}},
            "/@merge/objects should be an array but it is an object.",
        ),
        ({"@template": [1]}, "/@template should be a string or a mapping directive but it is an array."),
        ({"@if": True}, "/@if should be an object but it is a boolean."),
        (
            {"@merge": {"objects": "x", "direction": "right"}},
            "/@merge/objects should be an array but it is a string.",
        ),
    ],
)
def test_the_article_before_the_type_found(mapping: Any, message: str) -> None:
    assert errors(mapping) == [message]


_NOT_A_PATH = "should be a string or a mapping directive but it is a number."


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        # a directive's argument is itself checked, wherever it sits, and the problem named by its place
        ({"@path": {"@path": 5}}, [f"/@path/@path {_NOT_A_PATH}"]),
        ({"@template": {"@path": 5}}, [f"/@template/@path {_NOT_A_PATH}"]),
        ({"@arrayPath": [{"@path": 5}]}, [f"/@arrayPath/@path {_NOT_A_PATH}"]),
        ({"@arrayPath": ["$.a", {"x": {"@path": 5}}]}, [f"/@arrayPath/x/@path {_NOT_A_PATH}"]),
        (
            {"@liquid": {"@path": 5}},
            [f"/@liquid/@path {_NOT_A_PATH}", "/@liquid should be a string but it is a directive."],
        ),
        ({"@transform": 5}, ["/@transform should be an object but it is a number."]),
        (
            {"@transform": {"apply": {}, "mapping": {"x": {"@path": 5}}}},
            [f"/@transform/mapping/x/@path {_NOT_A_PATH}"],
        ),
        (
            {"@transform": {"apply": {}, "mapping": {}, "other": {"@path": 5}}},
            [f"/@transform/other/@path {_NOT_A_PATH}"],
        ),
        ({"@merge": {"direction": "left"}}, ['/@merge should have field "objects" but it doesn\'t.']),
        ({"@json": {"value": 1, "mode": 5}}, ["/@json/mode should be a string but it is a number."]),
        (
            {"@json": {"value": 1, "mode": "é"}},
            ['/@json/mode should be one of encode, decode but it is "é".'],
        ),
        (
            {
                "@replace": {
                    "pattern": "a",
                    "value": "x",
                    "pattern2": "abcdefghijk",
                    "replacement2": "abcdefghijk",
                }
            },
            [
                "/@replace/pattern2 should be a string of length 10 or less.",
                "/@replace/replacement2 should be a string of length 10 or less.",
            ],
        ),
    ],
)
def test_nested_arguments_are_checked_and_named_by_their_place(mapping: Any, expected: list[str]) -> None:
    assert errors(mapping) == expected


def test_patterns_and_replacements_of_the_longest_length_are_accepted() -> None:
    replace = {
        "pattern": "abcdefghij",
        "value": {"@path": "$.text"},
        "replacement": "0123456789",
        "pattern2": "0123456789",
        "replacement2": "ABCDEFGHIJ",
    }
    assert compile_mapping({"@replace": replace})({"text": "abcdefghij!"}) == "ABCDEFGHIJ!"


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ({"@case": {"operator": "", "value": "x"}}, ['/@case requires a "operator" key.']),
        ({"@flatten": {"value": "x", "separator": ""}}, ['/@flatten requires a "separator" key.']),
    ],
)
def test_an_empty_operator_or_separator_is_reported_once_as_missing(
    mapping: Any, expected: list[str]
) -> None:
    """An empty string is a string: only the missing-key rule reports it, not a length rule."""
    assert errors(mapping) == expected


def nested(depth: int) -> Any:
    mapping: Any = "x"
    for _ in range(depth):
        mapping = {"a": mapping}
    return mapping


def test_a_mapping_valid_but_too_deep_to_compile_is_a_validation_error() -> None:
    """Compiling takes more stack per level than validating, so some depth passes validation and then
    fails to compile. That depth is found from the deepest mapping validation accepts here, not fixed:
    frames per level differ between runs (mutmut's trampolines add some to every call)."""
    valid, invalid = 1, sys.getrecursionlimit()
    while invalid - valid > 1:
        depth = (valid + invalid) // 2
        if mapping_errors(nested(depth)):
            invalid = depth
        else:
            valid = depth
    mapping = nested(valid - 20)  # compile_mapping validates a few frames deeper than this test does
    assert mapping_errors(mapping) == []
    with pytest.raises(MappingValidationError) as caught:
        compile_mapping(mapping)
    assert caught.value.errors == ["/ is nested too deeply."]
    assert str(caught.value) == "/ is nested too deeply."
