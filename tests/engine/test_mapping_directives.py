"""Each directive with realistic Segment events and the reference's edge cases (reference 1.5)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from gleap_actions.mapping import MISSING, MappingRuntimeError, compile_mapping, transform

IDENTIFY = {
    "type": "identify",
    "userId": "user-1",
    "messageId": "m-2",
    "timestamp": "2024-01-02T03:04:05.000Z",
    "traits": {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "plan": "pro",
        "seats": 3,
        "score": 1.0,
        "big": 1e21,
        "tiny": 1e-7,
        "vip": True,
        "trial": False,
        "nickname": None,
        "title": "",
        "company": {"id": "c-1", "name": "Analytical Engines", "size": None},
        "tags": ["a", None, "b"],
    },
    "context": {"locale": "en-US", "page": {"url": "https://example.com/"}},
}


def resolve(directive: Any, event: dict[str, Any] = IDENTIFY) -> Any:
    return transform({"v": directive}, event).get("v", MISSING)


# -- @template ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("Hello, {{traits.name}}!", "Hello, Ada Lovelace!"),
        ("{{ traits.email }}", "ada@example.com"),
        ("Hello, {{traits.nickname}}!", "Hello, !"),  # null prints as nothing
        ("{{oops.yo}}", ""),
        ("{{traits.vip}}/{{traits.trial}}", "true/false"),
        ("{{traits.seats}} {{traits.score}} {{traits.big}} {{traits.tiny}}", "3 1 1e+21 1e-7"),
        ("{{traits.tags}}", "a,,b"),
        ("{{traits.company}}", '{"id":"c-1","name":"Analytical Engines","size":null}'),  # not [object Object]
        ("{{{traits.plan}}}", "pro"),
        ("{{traits.plan}}}", "pro}"),  # a stray brace is kept
        ("<b>{{traits.name}}</b> & {{traits.email}}", "<b>Ada Lovelace</b> & ada@example.com"),  # no escaping
        ("{{$.traits.plan}}", ""),  # @template does not strip "$."
        ("{{}}", "{{}}"),
        ("no placeholders", "no placeholders"),
        ("", ""),
    ],
)
def test_template(template: str, expected: str) -> None:
    assert resolve({"@template": template}) == expected


def test_template_with_a_directive_argument() -> None:
    event = {**IDENTIFY, "format": "{{traits.plan}}!"}
    assert resolve({"@template": {"@path": "$.format"}}, event) == "pro!"
    with pytest.raises(MappingRuntimeError, match="@template: expected string, got number"):
        resolve({"@template": {"@path": "$.traits.seats"}})


def test_template_triple_braces_are_replaced_before_double() -> None:
    event = {"a": "{{b}}", "b": "deep"}
    assert resolve({"@template": "{{{a}}} {{b}}"}, event) == "deep deep"


# -- @literal -------------------------------------------------------------------------------------


def test_literal_resolves_nested_directives_but_never_templates_strings() -> None:
    mapping = {"@literal": {"a": {"@path": "$.a"}, "b": {"@path": "$.b"}}}
    assert resolve(mapping, {"a": "some value"}) == {"a": "some value"}
    assert resolve({"@literal": "{{a}}"}, {"a": 1}) == "{{a}}"
    assert resolve({"@literal": None}) is None
    assert resolve({"@literal": False}) is False


# -- @if ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.traits.email", "yes"),
        ("$.traits.title", "yes"),  # "" exists
        ("$.traits.trial", "yes"),  # false exists
        ("$.traits.nickname", "no"),  # null does not
        ("$.traits.missing", "no"),
    ],
)
def test_if_exists(path: str, expected: str) -> None:
    assert resolve({"@if": {"exists": {"@path": path}, "then": "yes", "else": "no"}}) == expected


@pytest.mark.parametrize(
    ("value", "blank"),
    [
        ("", True),
        (0, True),
        (False, True),
        ([], True),
        ([""], True),
        ([None], True),
        ([[]], True),
        (None, True),
        (" ", False),
        ("0", False),
        ({}, False),
        (1, False),
        (True, False),
        ([0], False),
        (float("nan"), False),
        ("x", False),
    ],
)
def test_if_blank_uses_javascript_loose_equality(value: Any, blank: bool) -> None:
    mapping = {"@if": {"blank": {"@path": "$.v"}, "then": "filled", "else": "blank"}}
    assert resolve(mapping, {"v": value}) == ("blank" if blank else "filled")


def test_if_then_is_used_when_present_but_else_only_when_truthy() -> None:
    present = {"@path": "$.traits.email"}
    absent = {"@path": "$.traits.missing"}
    for then in (False, None, 0, ""):
        assert resolve({"@if": {"exists": present, "then": then}}) == then
    for otherwise in (False, None, 0, ""):
        assert resolve({"@if": {"exists": absent, "then": 1, "else": otherwise}}) is MISSING
    assert resolve({"@if": {"exists": absent, "then": 1, "else": {}}}) == {}
    assert resolve({"@if": {"exists": present}}) is MISSING  # no then


def test_if_exists_wins_over_blank_and_raw_values_count_as_existing() -> None:
    mapping = {
        "@if": {"exists": {"@path": "$.traits.title"}, "blank": {"@path": "$.traits.title"}, "then": 1}
    }
    assert resolve(mapping) == 1
    assert resolve({"@if": {"exists": "$.not.a.directive", "then": "always"}}) == "always"


def test_if_resolves_only_the_chosen_branch() -> None:
    failing = {"@path": {"@path": "$.nothing"}}  # would raise if resolved
    assert resolve({"@if": {"exists": {"@path": "$.userId"}, "then": 1, "else": failing}}) == 1


# -- @case ----------------------------------------------------------------------------------------


def test_case() -> None:
    assert resolve({"@case": {"operator": "upper", "value": {"@path": "$.traits.plan"}}}) == "PRO"
    assert resolve({"@case": {"operator": "lower", "value": {"@path": "$.traits.name"}}}) == "ada lovelace"
    assert (
        resolve({"@case": {"operator": "lower", "value": "ÀÉ ΣΑΣ"}}) == "àé σας"
    )  # full Unicode, final sigma
    assert resolve({"@case": {"operator": "upper", "value": "straße"}}) == "STRASSE"
    for path in ("$.traits.seats", "$.traits.nickname", "$.traits.trial", "$.traits.company"):
        assert resolve({"@case": {"operator": "upper", "value": {"@path": path}}}) == resolve({"@path": path})
    assert resolve({"@case": {"operator": "upper", "value": {"@path": "$.nope"}}}) is MISSING
    assert resolve({"@case": {"operator": "upper", "value": ""}}) is MISSING


# -- @replace -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("opts", "value", "expected"),
    [
        ({"pattern": "WW", "replacement": "oo", "ignorecase": False}, "cWWl-story-ww", "cool-story-ww"),
        (
            {"pattern": "AaB", "replacement": "nice", "ignorecase": True},
            "aab-----AaB---aab",
            "nice-----nice---nice",
        ),
        (
            {"pattern": "+", "replacement": "_", "global": False},
            "many+different+things",
            "many_different+things",
        ),
        ({"pattern": "many+"}, "many+different+things", "different+things"),
        ({"pattern": "b", "replacement": "[$&]"}, "abc", "a[b]c"),
        ({"pattern": "b", "replacement": "$$"}, "abc", "a$c"),
        ({"pattern": "b", "replacement": "\\1"}, "abc", "a\\1c"),
        ({"pattern": "b", "replacement": "$`|$'"}, "abc", "aa|cc"),
        ({"pattern": "b", "replacement": "$1$<x>$"}, "abc", "a$1$<x>$c"),
        ({"pattern": ".", "replacement": "-"}, "a.b.c", "a-b-c"),  # literal, not a regex
        ({"pattern": "(x)", "replacement": "y"}, "(x)(x)", "yy"),
        (
            {"pattern": "-", "replacement": " ", "pattern2": "wow", "replacement2": "awesome!"},
            "something-wow",
            "something awesome!",
        ),
        ({"pattern": "a", "replacement": "b", "pattern2": "b"}, "aab", ""),  # replacement2 defaults to ""
        ({"pattern": "A", "replacement": "$&$&", "ignorecase": True, "global": False}, "banana", "baanana"),
    ],
)
def test_replace(opts: dict[str, Any], value: str, expected: str) -> None:
    assert resolve({"@replace": {**opts, "value": {"@path": "$.v"}}}, {"v": value}) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, "TRUE"), (False, "false"), (1, "1"), (1.0, "1"), (1.5, "1.5"), (None, ""), ({}, ""), ([1], "")],
)
def test_replace_converts_booleans_and_numbers_and_gives_empty_for_others(value: Any, expected: str) -> None:
    mapping = {"@replace": {"pattern": "true", "replacement": "TRUE", "value": {"@path": "$.v"}}}
    assert resolve(mapping, {"v": value}) == expected


def test_replace_on_missing_value_gives_empty_string_and_falsy_raw_value_gives_missing() -> None:
    assert resolve({"@replace": {"pattern": "a", "value": {"@path": "$.nope"}}}) == ""
    assert resolve({"@replace": {"pattern": "a", "value": ""}}) is MISSING
    assert resolve({"@replace": {"pattern": "a", "value": "banana"}}) == "bnn"


# -- @arrayPath -----------------------------------------------------------------------------------

ORDER = {
    "type": "track",
    "event": "Order Completed",
    "properties": {
        "products": [
            {"product_id": "p-1", "price": 10, "quantity": 2},
            {"product_id": "p-2", "price": 5},
        ],
        "single": {"product_id": "p-9", "price": 1},
        "notAnArray": True,
        "letters": ["ab", "c"],
    },
}


def test_array_path_reshapes_each_item() -> None:
    shape = {"id": {"@path": "$.product_id"}, "qty": {"@path": "$.quantity"}, "event": {"@path": "$.event"}}
    mapping = {"@arrayPath": ["$.properties.products", shape]}
    assert resolve(mapping, ORDER) == [{"id": "p-1", "qty": 2}, {"id": "p-2"}]  # no access to the outer event


def test_array_path_edge_cases() -> None:
    shape = {"id": {"@path": "$.product_id"}, "price": {"@path": "$.price"}}
    assert resolve({"@arrayPath": ["$.properties.single", shape]}, ORDER) == [{"id": "p-9", "price": 1}]
    assert resolve({"@arrayPath": ["$.properties.products"]}, ORDER) == ORDER["properties"]["products"]
    assert resolve({"@arrayPath": ["$.properties.products", {}]}, ORDER) == ORDER["properties"]["products"]
    assert resolve({"@arrayPath": ["$.properties.notAnArray", shape]}, ORDER) is True
    assert resolve({"@arrayPath": ["$.properties.nothing", shape]}, ORDER) is MISSING
    assert resolve({"@arrayPath": ["$.properties.products", {"@path": "$.price"}]}, ORDER) == [10, 5]
    assert resolve({"@arrayPath": ["$.properties.products", {"@path": "$.quantity"}]}, ORDER) == [2, None]


def test_array_path_with_a_directive_root() -> None:
    root = {"@if": {"exists": {"@path": "$.properties.products"}, "then": {"@path": "$.properties.products"}}}
    assert resolve({"@arrayPath": [root, {"p": {"@path": "$.price"}}]}, ORDER) == [{"p": 10}, {"p": 5}]
    items = {"@arrayPath": [{"@literal": [{"@path": "$.x"}, {"k": 1}]}, {"k": {"@path": "$.k"}}]}
    assert resolve(items, {}) == [{}, {"k": 1}]  # an undefined item stays undefined for the shape


# -- @json ----------------------------------------------------------------------------------------


def test_json_encode_is_javascript_json_stringify() -> None:
    assert resolve({"@json": {"mode": "encode", "value": {"@path": "$.traits.company"}}}) == (
        '{"id":"c-1","name":"Analytical Engines","size":null}'
    )
    event = {"v": {"n": 1.0, "f": 0.5, "big": 1e21, "u": "żółw \u2028", "l": [1, None], "e": {}}}
    assert resolve({"@json": {"mode": "encode", "value": {"@path": "$.v"}}}, event) == (
        '{"n":1,"f":0.5,"big":1e+21,"u":"żółw \u2028","l":[1,null],"e":{}}'
    )
    assert resolve({"@json": {"mode": "encode", "value": {"@path": "$.traits.nickname"}}}) == "null"
    assert resolve({"@json": {"mode": "encode", "value": {"@path": "$.nope"}}}) is MISSING
    encoded = {"@json": {"mode": "encode", "value": {"a": {"@path": "$.nope"}, "b": [{"@path": "$.nope"}]}}}
    assert resolve(encoded) == '{"b":[null]}'
    assert resolve({"@json": {"mode": "encode", "value": "text"}}) == '"text"'


def test_json_decode() -> None:
    event = {
        "good": '{"a":[1,2],"b":null}',
        "bad": "{not json",
        "num": 3,
        "big": "123456789012345678901234567890",
    }
    assert resolve({"@json": {"mode": "decode", "value": {"@path": "$.good"}}}, event) == {
        "a": [1, 2],
        "b": None,
    }
    assert resolve({"@json": {"mode": "decode", "value": {"@path": "$.bad"}}}, event) == "{not json"
    assert resolve({"@json": {"mode": "decode", "value": {"@path": "$.num"}}}, event) == 3
    assert resolve({"@json": {"mode": "decode", "value": {"@path": "$.nope"}}}, event) is MISSING
    assert resolve({"@json": {"mode": "decode", "value": '"\\ud800"'}}, event) == "\ud800"


def test_json_mode_is_case_sensitive_at_run_time() -> None:
    assert resolve({"@json": {"mode": "ENCODE", "value": {"@path": "$.userId"}}}) is MISSING


# -- @flatten -------------------------------------------------------------------------------------


def test_flatten() -> None:
    event = {
        "p": {
            "bar": "baz",
            "aces": {"a": 1, "b": 2},
            "list": [{"fazz": 1, "fizz": 2}],
            "empty": {},
            "n": None,
        }
    }
    assert resolve({"@flatten": {"value": {"@path": "$.p"}, "separator": "."}}, event) == {
        "bar": "baz",
        "aces.a": 1,
        "aces.b": 2,
        "list.0.fazz": 1,
        "list.0.fizz": 2,
        "n": None,
    }
    assert resolve(
        {"@flatten": {"value": {"@path": "$.p"}, "separator": "__", "omitArrays": True}}, event
    ) == {
        "bar": "baz",
        "aces__a": 1,
        "aces__b": 2,
        "list": [{"fazz": 1, "fizz": 2}],
        "n": None,
    }
    assert resolve({"@flatten": {"value": "x", "separator": "."}}) == {"": "x"}
    assert resolve({"@flatten": {"value": {"@path": "$.nope"}, "separator": "."}}) == {}
    undefined_leaf = {
        "@flatten": {"value": {"a": {"@path": "$.nope"}, "b": [{"@path": "$.nope"}]}, "separator": "."}
    }
    assert resolve(undefined_leaf) == {}


# -- @merge ---------------------------------------------------------------------------------------


def test_merge_directions() -> None:
    objects = [{"@path": "$.traits.company"}, {"name": "Override", "extra": 1}]
    assert resolve({"@merge": {"objects": objects, "direction": "right"}}) == {
        "id": "c-1",
        "name": "Override",
        "size": None,
        "extra": 1,
    }
    assert resolve({"@merge": {"objects": objects, "direction": "left"}}) == {
        "name": "Analytical Engines",
        "extra": 1,
        "id": "c-1",
        "size": None,
    }
    assert (
        resolve({"@merge": {"objects": objects, "direction": "LEFT"}})["name"] == "Override"
    )  # exact "left" only
    assert resolve({"@merge": {"objects": [], "direction": "right"}}) == {}


def test_merge_undefined_property_overwrites_then_disappears() -> None:
    mapping = {"@merge": {"direction": "right", "objects": [{"a": 1, "b": 2}, {"a": {"@path": "$.missing"}}]}}
    assert resolve(mapping) == {"b": 2}
    # Segment's own Engage mappings use this to delete a key from a merged object
    nested = {
        "@merge": {
            "direction": "right",
            "objects": [{"@path": "$.traits"}, {"company": {"@path": "$.doesnotexist"}}],
        }
    }
    assert "company" not in resolve(nested)


def test_merge_sources_that_are_not_objects() -> None:
    objects = [{"@path": "$.traits.seats"}, {"@path": "$.traits.nickname"}, {"@path": "$.traits.plan"}]
    assert resolve({"@merge": {"objects": objects, "direction": "right"}}) == {"0": "p", "1": "r", "2": "o"}


# -- @transform -----------------------------------------------------------------------------------


def test_transform_resolves_mapping_against_the_applied_result_only() -> None:
    mapping = {
        "@transform": {
            "apply": {"foo": {"@path": "$.a"}},
            "mapping": {"cool": {"@path": "$.foo"}, "a": {"@path": "$.a"}},
        }
    }
    assert resolve(mapping, {"a": 1}) == {"cool": 1}


def test_root_directive_gathers_the_other_keys_into_the_mapping() -> None:
    mapping = {
        "__segment_internal_directive": {
            "@transform": {
                "apply": {
                    "@merge": {"direction": "right", "objects": [{"@path": "$."}, {"plan": "enterprise"}]}
                }
            }
        },
        "plan": {"@path": "$.plan"},
        "user": {"@path": "$.userId"},
    }
    assert transform(mapping, {"userId": "u", "plan": "free"}) == {"plan": "enterprise", "user": "u"}


def test_transform_inside_array_path_needs_object_items() -> None:
    mapping = {
        "@arrayPath": [
            "$.list",
            {"@transform": {"apply": {"x": {"@path": "$.a"}}, "mapping": {"@path": "$.x"}}},
        ]
    }
    assert resolve(mapping, {"list": [{"a": 1}, {"a": 2}]}) == [1, 2]
    with pytest.raises(MappingRuntimeError, match="data must be an object, got string"):
        resolve(mapping, {"list": ["text"]})


# -- @excludeWhenNull -----------------------------------------------------------------------------


def test_exclude_when_null() -> None:
    assert resolve({"@excludeWhenNull": {"@path": "$.traits.nickname"}}) is MISSING
    assert resolve({"@excludeWhenNull": {"@path": "$.traits.title"}}) == ""
    company = resolve({"@excludeWhenNull": {"@path": "$.traits.company"}})
    assert company == {"id": "c-1", "name": "Analytical Engines"}
    nested = {"a": None, "b": {"c": None, "d": 1}, "l": [None, {"e": None}]}
    assert resolve({"@excludeWhenNull": {"@path": "$.v"}}, {"v": nested}) == {
        "b": {"d": 1},
        "l": [None, {"e": None}],
    }


def test_exclude_when_null_composed_with_other_directives() -> None:
    null = {"@path": "$.traits.nickname"}
    mapping = {
        "template": {"@excludeWhenNull": {"@template": "{{traits.nickname}}"}},
        "replace": {"@excludeWhenNull": {"@replace": {"pattern": "a", "value": null}}},
        "json": {"@excludeWhenNull": {"@json": {"mode": "encode", "value": null}}},
        "case": {"@excludeWhenNull": {"@case": {"operator": "lower", "value": null}}},
        "if": {"@excludeWhenNull": {"@if": {"exists": null, "then": 1, "else": None}}},
    }
    assert transform(mapping, IDENTIFY) == {"template": "", "replace": "", "json": "null"}


def test_exclude_when_null_inside_merge_keeps_javascript_overwrite_semantics() -> None:
    objects = [{"a": 1}, {"@excludeWhenNull": {"@path": "$.v"}}]
    assert resolve({"@merge": {"objects": objects, "direction": "right"}}, {"v": {"a": None}}) == {}


# -- _metadata ------------------------------------------------------------------------------------


def test_metadata_is_ignored() -> None:
    mapping = {"@template": "{{traits.plan}}", "_metadata": {"type": "string", "label": "Plan"}}
    assert resolve(mapping) == "pro"


def test_compiled_mapping_keeps_the_source_and_is_reusable() -> None:
    source = {"email": {"@path": "$.traits.email"}}
    compiled = compile_mapping(source)
    assert compiled.mapping is source
    assert [compiled(IDENTIFY) for _ in range(3)] == [{"email": "ada@example.com"}] * 3


def test_transform_payload_keeps_undefined_array_items_from_apply() -> None:
    # removeUndefined keeps undefined array elements, so the mapping sees a missing item, not null
    apply = {"items": [{"@path": "$.nope"}, 1], "n": None}
    mapping = {"first": {"@path": "$.items.0"}, "items": {"@path": "$.items"}, "n": {"@path": "$.n"}}
    assert resolve({"@transform": {"apply": apply, "mapping": mapping}}) == {"items": [None, 1], "n": None}
    mapping_literal = {"items": {"@path": "$.items"}}
    plain = {"@transform": {"apply": {"items": {"@literal": [1, 2]}}, "mapping": mapping_literal}}
    assert resolve(plain) == {"items": [1, 2]}


# -- edges that mutation testing showed untested ------------------------------------------------


def test_transform_payload_with_undefined_items_from_array_path_is_cleaned_for_the_mapping() -> None:
    # An @arrayPath whose shape is missing for every item leaves undefined items in apply's result
    apply = {"items": {"@arrayPath": ["$.traits.tags", {"@path": "$.nope"}]}}
    mapping = {
        "items": {"@path": "$.items"},
        "text": {"@liquid": "{{ items | size }}:{{ items[0] }}:{{ items | last }}"},
    }
    assert resolve({"@transform": {"apply": apply, "mapping": mapping}}) == {
        "items": [None, None, None],
        "text": "3::",
    }
    inner = {
        "@transform": {
            "apply": {"xs": [{"@path": "$.nope"}, "b"]},
            "mapping": {"@liquid": "{{ xs[0] }}-{{ xs[1] }}"},
        }
    }
    assert resolve(inner) == "-b"


def test_metadata_of_apply_does_not_make_its_result_unclean() -> None:
    apply = {"v": {"@path": "$.traits.plan"}, "_metadata": [{"@path": "$.nope"}]}
    assert resolve({"@transform": {"apply": apply, "mapping": {"@path": "$.v"}}}) == "pro"


def test_liquid_on_array_items_that_are_not_objects_sees_no_variables() -> None:
    shape = {"s": {"@liquid": "[{{ size }}{{ traits.plan }}]"}}
    assert resolve({"@arrayPath": ["$.traits.tags", shape]}) == [{"s": "[]"}, {"s": "[]"}, {"s": "[]"}]


def test_liquid_filter_failing_on_event_data_names_the_directive() -> None:
    with pytest.raises(MappingRuntimeError, match=r"^@liquid: "):
        resolve({"@liquid": "{{ traits.name | sum }}"})  # a Python error inside the filter


def test_array_path_without_shape_and_a_directive_root_is_that_value() -> None:
    event = {"p": "list", "list": [1, 2]}
    assert transform({"v": {"@arrayPath": [{"@path": "$.p"}]}}, event) == {"v": "list"}
    assert transform({"v": {"@arrayPath": [{"@path": "$.list"}, {}]}}, event) == {"v": [1, 2]}


def test_array_path_of_a_computed_root_keeps_undefined_items_for_the_shape() -> None:
    root = {"@merge": {"objects": [{"a": {"@path": "$.nope"}}, {"b": 1}], "direction": "right"}}
    shape = {"keys": {"@path": "$."}, "a": {"@path": "$.a"}}
    assert resolve({"@arrayPath": [root, shape]}) == [{"keys": {"b": 1}}]
    computed = {
        "@arrayPath": [{"@arrayPath": ["$.traits.tags", {"@path": "$.nope"}]}, {"x": {"@path": "$."}}]
    }
    assert resolve(computed) == [{}, {"x": None}, {}]  # "a" has no `nope`; null stops the walk


def test_replace_edges() -> None:
    def replace(value: str, **opts: Any) -> Any:
        return transform({"v": {"@replace": {"value": {"@path": "$.s"}, **opts}}}, {"s": value})["v"]

    assert replace("Aa", pattern="a", replacement="b") == "Ab"  # case-sensitive by default
    assert replace("Aa", pattern="a", replacement="[$&]") == "A[a]"
    assert replace("aa", pattern="a", replacement="<<$&>>", **{"global": False}) == "<<a>>a"
    assert replace("a", pattern="a", replacement="x$$y$$") == "x$y$"
    assert replace("a", pattern="a", replacement="$$z") == "$z"
    assert replace("ab", pattern="a", replacement="", pattern2="", replacement2="x") == "b"
    assert replace("aB", pattern="a", replacement="", pattern2="b", replacement2="c", ignorecase=True) == "c"


def test_flatten_of_a_top_level_array_keys_items_by_index() -> None:
    mapping = {"@flatten": {"value": {"@path": "$.xs"}, "separator": "."}}
    assert transform({"v": mapping}, {"xs": [1, [2]]}) == {"v": {"0": 1, "1.0": 2}}


def test_json_decode_refuses_what_json_parse_refuses() -> None:
    for text in ("NaN", "[Infinity]", "-Infinity"):
        assert transform({"v": {"@json": {"mode": "decode", "value": {"@path": "$.s"}}}}, {"s": text}) == {
            "v": text
        }


def test_json_of_an_unknown_mode_still_resolves_its_value() -> None:
    mapping = {"v": {"@json": {"mode": "ENCODE", "value": {"@path": {"@path": "$.p"}}}}}
    assert transform(mapping, {"p": "x", "x": 1}) == {}
    with pytest.raises(MappingRuntimeError, match="@path: expected string, got number"):
        transform(mapping, {"p": 5})


def test_transform_batch_errors() -> None:
    compiled = compile_mapping({"v": {"@path": "$.a"}})
    assert compiled.transform_batch([{"a": 1}, {}]) == [{"v": 1}, {}]
    with pytest.raises(MappingRuntimeError, match=r"^data must be an object, got array$"):
        compiled.transform_batch([{"a": 1}, [1]])  # type: ignore[list-item]
    with pytest.raises(MappingRuntimeError, match=r"^data must be an array, got object$"):
        compiled.transform_batch({"a": 1})  # type: ignore[arg-type]
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    flat = compile_mapping({"@flatten": {"value": {"@path": "$.d"}, "separator": "."}})
    with pytest.raises(MappingRuntimeError, match=r"^the event or the mapping is nested too deeply$"):
        flat.transform_batch([{"d": deep}])


def test_undefined_items_of_nested_lists_in_apply_reach_the_mapping_as_null() -> None:
    apply = {"xs": [[{"@path": "$.nope"}, 1]]}
    assert resolve({"@transform": {"apply": apply, "mapping": {"xs": {"@path": "$.xs"}}}}) == {
        "xs": [[None, 1]]
    }


def test_merge_and_flatten_inside_merge_keep_undefined_properties_that_overwrite() -> None:
    # JavaScript: Object.assign keeps `a: undefined`, which then overwrites the earlier `a`
    for inner in (
        {"@merge": {"objects": [{"a": {"@path": "$.nope"}}], "direction": "right"}},
        {"@flatten": {"value": {"a": {"@path": "$.nope"}}, "separator": "."}},
    ):
        merged = {"@merge": {"objects": [{"a": 1, "b": 2}, inner], "direction": "right"}}
        assert transform({"v": merged}, {}) == {"v": {"b": 2}}


def test_if_blank_resolves_its_branches_against_the_event() -> None:
    mapping = {
        "@if": {
            "blank": {"@path": "$.traits.title"},
            "then": {"@path": "$.userId"},
            "else": {"@path": "$.traits.plan"},
        }
    }
    assert resolve(mapping) == "pro"
    assert resolve(mapping, {**IDENTIFY, "traits": {"title": "x"}}) == "user-1"


def test_a_constant_object_is_a_fresh_copy_in_every_output_and_keeps_no_link_to_the_mapping() -> None:
    mapping: dict[str, Any] = {"plan": {"name": "pro", "tags": [{"t": 1}]}, "n": {"@path": "$.n"}}
    mapped = compile_mapping(mapping)
    first = mapped({"n": 1})
    first["plan"]["name"] = "changed"
    first["plan"]["tags"][0]["t"] = 2
    mapping["plan"]["name"] = "edited later"
    second = mapped({"n": 2})
    assert second == {"plan": {"name": "pro", "tags": [{"t": 1}]}, "n": 2}
    # The same holds for a mapping that is one constant object.
    whole = compile_mapping({"@literal": {"a": {"b": 1}}})
    out = whole({})
    out["a"]["b"] = 2
    assert whole({}) == {"a": {"b": 1}}


# Undefined array items: `removeUndefined` keeps them in `@transform`'s payload, and directives that
# observe undefined (`@flatten`, Liquid) must see what Segment's do; everything else sees null.
NO_ITEM = [{"@path": "$.nope"}]  # a list of directives only: its one item is undefined
DEFAULTED = "{{ xs[0] | default: 'd' }}{% if xs[0] == nil %}-nil{% endif %}"  # null: "d-nil"


@pytest.mark.parametrize(
    ("directive", "expected"),
    [
        # apply leaves an undefined item: the mapping's payload is unclean and its results are cleaned
        ({"@transform": {"apply": {"xs": NO_ITEM}, "mapping": {"xs": {"@path": "$.xs"}}}}, {"xs": [None]}),
        (
            {"@transform": {"apply": {"o": {"x": {"@path": "$.nope"}, "y": 1}}, "mapping": {"@path": "$.o"}}},
            {"y": 1},
        ),
        (
            {
                "@transform": {
                    "apply": {"xs": [{"a": {"@path": "$.nope"}, "b": 1}]},
                    "mapping": {"@path": "$.xs"},
                }
            },
            [{"b": 1}],
        ),
        # Liquid reads an undefined item as null, wherever it is compiled in that mapping
        ({"@transform": {"apply": {"xs": NO_ITEM}, "mapping": {"@liquid": DEFAULTED}}}, "d-nil"),
        (
            {"@transform": {"apply": {"xs": NO_ITEM}, "mapping": {"@template": {"@liquid": DEFAULTED}}}},
            "d-nil",
        ),
        (
            {
                "@transform": {
                    "apply": {"xs": NO_ITEM},
                    "mapping": {"@flatten": {"value": {"t": {"@liquid": DEFAULTED}}, "separator": "."}},
                }
            },
            {"t": "d-nil"},
        ),
        # inside @flatten, an undefined item of a @transform's or an @arrayPath shape's list is dropped
        (
            {
                "@flatten": {
                    "value": {"@transform": {"apply": {}, "mapping": {"l": NO_ITEM, "k": 1}}},
                    "separator": ".",
                }
            },
            {"k": 1},
        ),
        (
            {
                "@flatten": {
                    "value": {"@arrayPath": ["$.traits.company", {"l": NO_ITEM, "k": 1}]},
                    "separator": ".",
                }
            },
            {"0.k": 1},
        ),
    ],
)
def test_undefined_items_are_null_in_results_and_undefined_where_directives_observe_them(
    directive: Any, expected: Any
) -> None:
    assert resolve(directive) == expected


def test_json_decode_of_a_large_integer_is_a_double_as_in_javascript() -> None:
    """JSON.parse reads every number as a double: 2**64 is not kept as an exact integer."""
    decoded = resolve({"@json": {"mode": "decode", "value": "18446744073709551617"}})
    assert type(decoded) is float
    assert decoded == 2.0**64
    assert transform({"v": {"@json": {"mode": "decode", "value": "[18446744073709551617]"}}}, {}) == {
        "v": [2.0**64]
    }


def test_a_deep_event_through_the_mapping_call_is_a_runtime_error() -> None:
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    flat = compile_mapping({"@flatten": {"value": {"@path": "$.d"}, "separator": "."}})
    with pytest.raises(MappingRuntimeError, match=r"^the event or the mapping is nested too deeply$"):
        flat({"d": deep})


def test_replace_with_a_replacement_pattern_warns_of_nothing() -> None:
    """The regular expression of a replacement with `$&` is compiled without deprecated flags
    (a caller running with warnings as errors must not fail)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        replaced = resolve({"@replace": {"pattern": "~q", "replacement": "<$&>", "value": "a~qb"}})
    assert replaced == "a<~q>b"


IF_DEEP = {"@if": {"exists": {"@path": "$.d"}, "then": 1}}


@pytest.mark.parametrize(
    ("mapping", "event", "expected"),
    [
        ({"@liquid": "{{ a }}"}, {"a": 1}, "1"),
        (IF_DEEP, {}, 1),
        ({"@arrayPath": ["$.xs", {"v": IF_DEEP}]}, {"xs": [{}]}, [{"v": 1}]),
        ({"@merge": {"objects": [{"v": IF_DEEP}], "direction": "right"}}, {}, {"v": 1}),
        ({"@flatten": {"value": {"t": {"@liquid": "{{ a }}"}}, "separator": "."}}, {"a": 1}, {"t": "1"}),
    ],
)
def test_a_deep_event_part_that_is_only_tested_or_not_read_is_not_walked(
    mapping: Any, event: dict[str, Any], expected: Any
) -> None:
    """Parsed events hold no undefined values, so nothing walks them to clean them: a part nested
    deeper than Python's recursion limit is fine where it is only tested for existence or not read."""
    deep: Any = 1
    for _ in range(100_000):
        deep = [deep]
    event = {**event, "d": deep}
    if "xs" in event:
        event["xs"] = [{**item, "d": deep} for item in event["xs"]]
    assert compile_mapping(mapping)(event) == expected
