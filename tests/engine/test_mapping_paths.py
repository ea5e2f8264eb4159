"""Path lookup and `@path`: Segment's `get` (reference 1.4, 1.5.1)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from gleap_actions.mapping import MISSING, MappingRuntimeError, compile_mapping, transform

TRACK = {
    "type": "track",
    "event": "Order Completed",
    "userId": "user-1",
    "anonymousId": "anon-1",
    "messageId": "m-1",
    "timestamp": "2024-01-02T03:04:05.000Z",
    "properties": {
        "order_id": "o-1",
        "total": 42.5,
        "coupon": None,
        "discount": 0,
        "note": "",
        "gift": False,
        "products": [{"product_id": "p-1", "price": 10}, {"product_id": "p-2", "price": 32.5}],
    },
    "context": {"page": {"url": "https://example.com/checkout"}, "locale": "en-US"},
    "integrations": {"Actions Amplitude": {"session_id": 1234}},
}


def path(p: str, event: dict[str, Any] = TRACK) -> Any:
    return transform({"v": {"@path": p}}, event).get("v", MISSING)


@pytest.mark.parametrize(
    ("p", "expected"),
    [
        ("$.userId", "user-1"),
        ("$.properties.products[0].product_id", "p-1"),
        ("$.properties.products.1.price", 32.5),
        ("$.properties['products'][1].product_id", "p-2"),
        ('$.properties["order_id"]', "o-1"),
        ("$.integrations.Actions Amplitude.session_id", 1234),
        ("$.integrations['Actions Amplitude'].session_id", 1234),
        ("properties.total", 42.5),  # the $. prefix is optional
        ("a.$.userId", MISSING),  # the first "$." anywhere is removed: "a.userId"
        ("$.properties.products.length", 2),
        ("$.properties.products.01", MISSING),  # not a canonical array index
        ("$.properties.products.5", MISSING),
        ("$.nope", MISSING),
        ("$.properties.order_id.length", MISSING),  # strings are leaves (deliberate)
        ("$.properties.total.x", MISSING),
    ],
)
def test_path_lookup(p: str, expected: Any) -> None:
    assert path(p) == expected


def test_root_paths_return_the_whole_event() -> None:
    assert path("") == TRACK
    assert path("$.") == TRACK
    assert path(".") == TRACK
    assert path("$") is MISSING  # a key literally named "$"


@pytest.mark.parametrize(
    ("event", "p", "expected"),
    [
        ({"a": None}, "a.b", None),
        ({"a": 0}, "a.b", 0),
        ({"a": ""}, "a.b", ""),
        ({"a": False}, "a.b.c", False),
        ({"a": {"b": None}}, "a.b.c.d", None),
        ({"a": True}, "a.b", MISSING),
        ({"a": []}, "a.0", MISSING),
        ({"a": {}}, "a.b", MISSING),
    ],
)
def test_falsy_intermediates_short_circuit(event: dict[str, Any], p: str, expected: Any) -> None:
    result = path(p, event)
    assert result == expected and type(result) is type(expected)


def test_missing_key_is_removed_and_null_is_kept() -> None:
    mapping = {"coupon": {"@path": "$.properties.coupon"}, "gone": {"@path": "$.properties.nothing"}}
    assert transform(mapping, TRACK) == {"coupon": None}


def test_bracket_without_quote_or_digit_is_a_literal_key() -> None:
    assert path("a[b]", {"a[b]": 1, "a": {"b": 2}}) == 1


def test_nested_path_directive_uses_the_string_found() -> None:
    event = {"which": "properties.order_id", **TRACK}
    assert transform({"v": {"@path": {"@path": "$.which"}}}, event) == {"v": "o-1"}


def test_nested_path_to_a_missing_key_is_a_runtime_error() -> None:
    with pytest.raises(MappingRuntimeError, match="@path: expected string, got undefined"):
        transform({"v": {"@path": {"@path": "$.nothing"}}}, TRACK)


@pytest.mark.parametrize(("data", "kind"), [([], "array"), (None, "null"), (3, "number"), ("x", "string")])
def test_data_must_be_an_object(data: Any, kind: str) -> None:
    with pytest.raises(MappingRuntimeError, match=f"data must be an object, got {kind}"):
        compile_mapping({"a": 1})(data)


def test_raw_values_are_returned_unchanged() -> None:
    assert transform("{{userId}}", TRACK) == "{{userId}}"
    assert transform(123, TRACK) == 123
    assert transform(["cool"], TRACK) == ["cool"]
    assert transform({"x": "{{userId}}"}, TRACK) == {"x": "{{userId}}"}


def test_constant_output_is_not_shared_between_events() -> None:
    mapping = compile_mapping({"tags": ["a"], "u": {"@path": "$.userId"}})
    first = mapping(TRACK)
    first["tags"].append("mutated")
    assert mapping(TRACK)["tags"] == ["a"]


def test_transform_batch_resolves_each_event_in_order() -> None:
    mapping = compile_mapping({"id": {"@path": "$.userId"}})
    assert mapping.transform_batch([{"userId": "a"}, {}, {"userId": None}]) == [{"id": "a"}, {}, {"id": None}]
    with pytest.raises(MappingRuntimeError, match="data must be an array, got object"):
        mapping.transform_batch({"userId": "a"})  # type: ignore[arg-type]


def test_undefined_array_elements_become_null() -> None:
    assert transform({"v": [{"@path": "$.a"}, {"@path": "$.m"}, 3]}, {"a": 1}) == {"v": [1, None, 3]}


def test_changing_the_source_mapping_after_compiling_changes_nothing() -> None:
    source: dict[str, Any] = {"tags": ["a"], "u": {"@path": "$.userId"}}
    mapping = compile_mapping(source)
    source["tags"].append("b")
    source["u"]["@path"] = "$.event"
    assert mapping(TRACK) == {"tags": ["a"], "u": "user-1"}


def test_object_keys_and_paths_with_any_text_resolve() -> None:
    # Top-level mapping objects are generated Python source: keys and path segments are data in it.
    key, segment = "we'i\"rd\n\\ \u2028 key", "wei rd\n\\ \u2028 key"  # paths drop quotes
    mapping = {key: {"@path": f"$.a.{segment}"}, "other": {"@path": "$.missing.deep"}, "c": 1}
    assert transform(mapping, {"a": {segment: 5}}) == {key: 5, "c": 1}
    assert transform(mapping, {"a": [1]}) == {"c": 1}


def test_only_the_first_dollar_dot_is_removed() -> None:
    event = {"a": {"$": {"b": 1}}, "b": 2}
    assert transform({"v": {"@path": "$.a.$.b"}}, event) == {"v": 1}
    assert transform({"v": {"@path": "a.$.b"}}, event) == {}  # "a.b": the first "$." anywhere goes


@pytest.mark.parametrize("p", ["$.a", "$.a.b", "$.a.b.c"])  # one, two and more segments
def test_paths_on_items_that_are_not_objects_find_nothing(p: str) -> None:
    """`@arrayPath` items are the payload of its shape: a path into a text, number, null or array item
    finds nothing (null stops the walk and is the result), where the getters' object step would fail."""
    items = ["text", 1, None, [1], {"a": {"b": {"c": 1}}}]
    found = transform({"v": {"@arrayPath": ["$.xs", {"@path": p}]}}, {"xs": items})["v"]
    expected_last = {"$.a": {"b": {"c": 1}}, "$.a.b": {"c": 1}, "$.a.b.c": 1}[p]
    assert found == [None, None, None, None, expected_last]


def test_an_event_given_as_a_dict_subclass_is_walked_like_a_dict() -> None:
    """A Python caller may pass an `OrderedDict` (a dict) as the event or inside it: paths walk it."""
    event = OrderedDict(a=OrderedDict(b=OrderedDict(c=1, n=None)))
    mapping = {
        "c": {"@path": "$.a.b.c"},
        "n": {"@path": "$.a.b.n"},
        "nope": {"@path": "$.a.b.nope"},
        "one": {"@path": "$.a"},
    }
    assert compile_mapping(mapping)(event) == {"c": 1, "n": None, "one": {"b": {"c": 1, "n": None}}}
    # the directive resolver's getters (two and three segments)
    assert compile_mapping({"@path": "$.a.b"})(event) == {"c": 1, "n": None}
    assert compile_mapping({"@path": "$.a.b.c"})(event) == 1
    assert compile_mapping({"@path": "$.a.b.nope"})(event) is MISSING
