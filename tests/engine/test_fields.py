"""Field validators: empty-value removal, undeclared keys, requirements and Segment's messages."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gleap_actions.engine.errors import PayloadValidationError
from gleap_actions.engine.fields import Field, compile_fields, default_mapping


def _error(fields: dict[str, Field], payload: dict[str, Any]) -> str:
    with pytest.raises(PayloadValidationError) as caught:
        compile_fields(fields)(payload)
    assert caught.value.status == 400
    assert caught.value.code == "PAYLOAD_VALIDATION_FAILED"
    return str(caught.value)


def test_missing_required_field_message() -> None:
    fields = {"userId": Field("User ID", "string", required=True)}
    assert _error(fields, {}) == "The root value is missing the required field 'userId'."


@pytest.mark.parametrize("empty", [None, ""])
def test_top_level_empty_string_and_null_count_as_missing(empty: object) -> None:
    fields = {"userId": Field("User ID", "string", required=True)}
    assert _error(fields, {"userId": empty}) == "The root value is missing the required field 'userId'."


def test_every_problem_is_reported_in_field_order_required_first() -> None:
    fields = {
        "a": Field("A", "number"),
        "userId": Field("User ID", "string", required=True),
        "date": Field("When", "datetime", required=True),
        "value": Field("User Value", "number"),
    }
    message = _error(fields, {"value": "abc", "a": {}})
    assert message == (
        "The root value is missing the required field 'userId'. "
        "The root value is missing the required field 'date'. "
        "A must be a number but it was an object. "
        "User Value must be a number but it was a string."
    )


def test_root_removal_single_rule_and_undeclared_keys_dropped() -> None:
    fields = {
        "foo": Field("Foo", "number"),
        "bar": Field("Bar", "string"),
        "baz": Field("Baz", "boolean"),
        "name": Field("Name", "string"),
    }
    validated = compile_fields(fields)({"foo": "", "bar": "1", "baz": True, "name": "", "clientId": "x"})
    assert validated == {"bar": "1", "baz": True}


def test_nulls_are_kept_only_where_allowed() -> None:
    fields = {"a": Field("A", "string", allow_null=True), "b": Field("B", "string")}
    assert compile_fields(fields)({"a": None, "b": None}) == {"a": None}


def test_free_form_objects_are_not_cleaned_or_filtered() -> None:
    fields = {"data": Field("Data", "object")}
    data = {"x": None, "y": "", "z": False, "nested": {"k": None}}
    validated = compile_fields(fields)({"data": data})
    assert validated == {"data": data}


def test_objects_with_properties_clean_nested_values_by_field_type() -> None:
    product = {
        "id": "",  # a nested string: "" is kept
        "price": "",  # a nested number: "" is removed
        "qty": None,  # null removed where not allowed
        "note": None,  # kept: allow_null
        "unknown": 1,  # undeclared: dropped
    }
    fields = {
        "product": Field(
            "Product",
            "object",
            properties={
                "id": Field("Product ID", "string"),
                "price": Field("Price", "number"),
                "qty": Field("Quantity", "integer"),
                "note": Field("Note", "string", allow_null=True),
            },
        )
    }
    assert compile_fields(fields)({"product": product}) == {"product": {"id": "", "note": None}}


def test_additional_properties_keeps_undeclared_nested_keys_in_order() -> None:
    fields = {
        "o": Field("O", "object", properties={"n": Field("N", "number")}, additional_properties=True),
    }
    assert compile_fields(fields)({"o": {"x": 1, "n": "2", "y": None}}) == {"o": {"x": 1, "n": 2, "y": None}}


def test_nested_required_uses_the_object_label() -> None:
    fields = {"op": Field("OP", "object", properties={"k": Field("K", "string", required=True)})}
    assert _error(fields, {"op": {"other": 1}}) == "OP is missing the required field 'k'."


def test_list_items_named_by_json_pointer() -> None:
    fields = {
        "mop": Field("MOP", "object", multiple=True, properties={"k": Field("K", "string", required=True)}),
        "tags": Field("Tags", "string", multiple=True),
    }
    message = _error(fields, {"mop": [{"k": "a"}, {}], "tags": ["a", {"b": 1}]})
    assert message == (
        "The value at /mop/1 is missing the required field 'k'. "
        "The value at /tags/1 must be a string but it was an object."
    )


def test_list_items_that_would_be_removed_are_filtered() -> None:
    fields = {"tags": Field("Tags", "string", multiple=True), "nums": Field("Nums", "number", multiple=True)}
    validated = compile_fields(fields)({"tags": ["a", None, "", 3], "nums": [1, "", None, "2"]})
    assert validated == {"tags": ["a", "", "3"], "nums": [1, 2]}


def test_enum_message_lists_choices() -> None:
    fields = {"type": Field("Event Type", "string", required=True, choices=("track", "page", "screen"))}
    assert _error(fields, {"type": "identify"}) == 'Event Type must be one of: "track", "page", or "screen".'
    assert (
        _error({"t": Field("T", "string", choices=("a", "b"))}, {"t": "c"}) == 'T must be one of: "a" or "b".'
    )


def test_enum_matches_after_coercion() -> None:
    fields = {"n": Field("N", "number", choices=(1, 2))}
    assert compile_fields(fields)({"n": "2"}) == {"n": 2}
    assert compile_fields(fields)({"n": True}) == {"n": 1}  # true -> 1, as in AJV
    assert _error(fields, {"n": "3"}) == "N must be one of: 1 or 2."


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            Field("Email Address", "string", format="email"),
            "nope",
            "Email Address must be a valid email address string but it was not.",
        ),
        (
            Field("Event Page URL", "string", format="uri"),
            "/relative",
            "Event Page URL must be a valid URI string but it was not.",
        ),
        (
            Field("Event Page URL", "string", format="uri"),
            "https://example.de/suche?q=größe",
            "Event Page URL must be a valid URI string but it was not.",
        ),
        (
            Field("D", "string", format="date-time"),
            "2020-13-01T00:00:00",
            "D must be a valid date and time string but it was not.",
        ),
        (Field("D", "string", format="date"), "2021-02-30", "D must be a valid date string but it was not."),
        (Field("U", "string", format="uuid"), "xyz", "U must be a valid uuid string but it was not."),
        (Field("I", "string", format="ipv4"), "::1", "I must be a valid IPv4 address string but it was not."),
        (Field("S", "string", minimum=3), "ab", "S must be 3 characters or more but it was 2 characters."),
        (Field("S", "string", maximum=1), "ab", "S must be 1 character or fewer but it was 2 characters."),
        (Field("N", "number", minimum=5), 4, "N must be equal to or greater than 5."),
        (Field("N", "number", maximum=5), "6", "N must be equal to or less than 5."),
    ],
)
def test_format_and_limit_messages(field: Field, value: object, message: str) -> None:
    assert _error({"f": field}, {"f": value}) == message


@pytest.mark.parametrize(
    ("field", "value"),
    [
        (Field("Email Address", "string", format="email"), "user@example.com"),
        (Field("U", "string", format="uri"), "https://segment.com/academy/?a=b#c"),
        (Field("D", "string", format="date-time"), "2020-01-01T00:00:00"),
        (Field("D", "string", format="date-time"), "2020-01-01 00:00:00.5+02:00"),
        (Field("T", "string", format="time"), "23:59:60Z"),
        (Field("H", "string", format="hostname"), "api.gleap.io"),
        (Field("I", "string", format="ipv6"), "::1"),
        (Field("P", "password"), "anything"),
        (Field("X", "text", format="text"), "anything"),
    ],
)
def test_valid_formats(field: Field, value: str) -> None:
    assert compile_fields({"f": field})({"f": value}) == {"f": value}


def test_zero_limits_and_integer_limits_are_ignored_like_segment() -> None:
    fields = {"n": Field("N", "number", minimum=0), "i": Field("I", "integer", minimum=10, maximum=20)}
    assert compile_fields(fields)({"n": -5, "i": 3}) == {"n": -5, "i": 3}


def test_drop_invalid_field_never_rejects() -> None:
    fields = {"url": Field("U", "string", drop_invalid=True), "n": Field("N", "number", drop_invalid=True)}
    assert compile_fields(fields)({"url": {"a": 1}, "n": "x"}) == {}
    assert compile_fields(fields)({"url": 5, "n": "7"}) == {"url": "5", "n": 7}


def test_several_required_fields_are_each_checked() -> None:
    """Each required key is checked: with all present the payload passes, each absent one is named."""
    fields = {
        "a": Field("A", "string", required=True),
        "b": Field("B", "number", required=True),
        "c": Field("C", "boolean", required=True),
    }
    assert compile_fields(fields)({"a": "x", "b": 1, "c": True}) == {"a": "x", "b": 1, "c": True}
    assert _error(fields, {"b": 1}) == (
        "The root value is missing the required field 'a'. The root value is missing the required field 'c'."
    )


@pytest.mark.parametrize("value", [{"n": 1}, {"k": "x", "n": "y"}, {"k": {}}])
def test_an_invalid_object_of_a_drop_invalid_field_is_removed_whole(value: dict[str, Any]) -> None:
    """A nested object missing a required key or holding an invalid value is dropped, not kept in part."""
    fields = {
        "o": Field(
            "O",
            "object",
            properties={"k": Field("K", "string", required=True), "n": Field("N", "number")},
            drop_invalid=True,
        ),
        "s": Field("S", "string"),
    }
    assert compile_fields(fields)({"o": value, "s": "v"}) == {"s": "v"}
    assert compile_fields(fields)({"o": {"k": "x", "n": "2"}}) == {"o": {"k": "x", "n": 2}}


def test_root_value_must_be_an_object() -> None:
    with pytest.raises(
        PayloadValidationError, match=r"^The root value must be an object but it was an array\.$"
    ):
        compile_fields({})([])  # type: ignore[arg-type]


def test_unknown_format_fails_at_compile_time() -> None:
    with pytest.raises(ValueError, match="unknown format 'emial'"):
        compile_fields({"e": Field("E", "string", format="emial")})


def test_default_mapping_is_built_from_field_defaults() -> None:
    fields = {"a": Field("A", "string", default={"@path": "$.a"}), "b": Field("B", "number")}
    assert default_mapping(fields) == {"a": {"@path": "$.a"}}


def test_payload_is_not_mutated() -> None:
    payload = {"userId": 1, "extra": 2, "empty": ""}
    compile_fields({"userId": Field("User ID", "string"), "empty": Field("E", "string")})(payload)
    assert payload == {"userId": 1, "extra": 2, "empty": ""}


def test_nested_list_items_are_named_by_their_full_pointer() -> None:
    fields = {"o": Field("O", "object", properties={"tags": Field("Tags", "number", multiple=True)})}
    with pytest.raises(
        PayloadValidationError, match=r"^The value at /o/tags/1 must be a number but it was a string\.$"
    ):
        compile_fields(fields)({"o": {"tags": [1, "x"]}})


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)
_EVERY_KIND = {
    "s": Field("S", "string"),
    "n": Field("N", "number", allow_null=True),
    "i": Field("I", "integer"),
    "b": Field("B", "boolean"),
    "d": Field("D", "datetime"),
    "o": Field("O", "object"),
    "e": Field("E", "string", choices=("a", "b")),
    "m": Field("M", "string", multiple=True),
    "p": Field(
        "P", "object", properties={"x": Field("X", "number"), "y": Field("Y", "string", required=True)}
    ),
    "u": Field("U", "string", format="email"),
}
_EVERY_KIND_VALIDATOR = compile_fields(_EVERY_KIND)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from([*_EVERY_KIND, "extra"]), _JSON, max_size=6))
def test_any_payload_is_validated_or_rejected_and_validation_is_idempotent(payload: dict[str, Any]) -> None:
    try:
        validated = _EVERY_KIND_VALIDATOR(payload)
    except PayloadValidationError as error:
        assert str(error).endswith(".")
        return
    assert set(validated) <= set(_EVERY_KIND)
    # Coercion can produce a top-level "" (`[null]` -> null -> ""), which a second pass drops as empty.
    assert _EVERY_KIND_VALIDATOR(validated) == {k: v for k, v in validated.items() if v != ""}


def test_keys_any_text_can_be_validated_and_reported() -> None:
    # The object check is generated Python source: keys with quotes, newlines and the like are data.
    key = "we'i\"rd\n\\ \u2028 key"
    fields = {key: Field("Odd", "string", required=True), "n": Field("N", "number")}
    assert compile_fields(fields)({key: "v", "n": "2"}) == {key: "v", "n": 2}
    assert _error(fields, {}) == f"The root value is missing the required field '{key}'."


# -- rules of one value, at their boundaries (found by mutation testing) ---------------------------


def _valid(field: Field, value: Any) -> Any:
    return compile_fields({"v": field})({"v": value}).get("v", "<removed>")


def test_length_and_range_limits_are_inclusive_and_integers_have_none() -> None:
    text = Field("S", "string", minimum=2, maximum=3)
    assert [_valid(text, v) for v in ("ab", "abc")] == ["ab", "abc"]
    assert _error({"v": text}, {"v": "a"}) == "S must be 2 characters or more but it was 1 character."
    assert _error({"v": text}, {"v": "abcd"}) == "S must be 3 characters or fewer but it was 4 characters."
    number = Field("N", "number", minimum=1, maximum=5)
    assert [_valid(number, v) for v in (1, 5, "5")] == [1, 5, 5]
    assert _error({"v": number}, {"v": 0.5}) == "N must be equal to or greater than 1."
    assert _error({"v": number}, {"v": 6}) == "N must be equal to or less than 5."
    assert _valid(Field("I", "integer", minimum=1, maximum=5), 10) == 10  # Segment emits no integer limits


def test_datetimes_are_normalised_and_their_format_is_not_checked_as_text() -> None:
    field = Field("D", "datetime", format="date-time")
    assert _valid(field, "2024-01-02T03:04:05Z") == "2024-01-02T03:04:05.000Z"
    assert _valid(field, 1704164645) == "2024-01-02T03:04:05.000Z"
    assert _valid(field, "1704164645") == "2024-01-02T03:04:05.000Z"
    assert _error({"v": field}, {"v": "nope"}).startswith(
        "D must be a valid date and time (ISO 8601, RFC 2822, or Unix seconds or milliseconds) but it was not"
    )


def test_choices_are_strict_and_a_nullable_field_also_accepts_null() -> None:
    choice = Field("C", "string", choices=("a", "b"), allow_null=True)
    assert _valid(choice, None) is None
    assert _valid(choice, "a") == "a"
    assert _error({"v": choice}, {"v": "x"}) == 'C must be one of: "a", "b", or null.'
    assert _valid(Field("B", "boolean", choices=(True,)), True) is True
    assert _valid(Field("N", "number", choices=(1,)), 1) == 1
    assert _valid(Field("N", "number", choices=(1,)), True) == 1  # coerced before the enum check


@pytest.mark.parametrize("kind", ["string", "text", "password"])
def test_items_of_a_multiple_text_field_keep_empty_strings(kind: Any) -> None:
    assert _valid(Field("T", kind, multiple=True), ["", "a", None]) == ["", "a"]
    assert _valid(Field("N", "number", multiple=True), ["", 1, None]) == [1]


def test_a_nested_object_that_is_not_an_object() -> None:
    field = Field("O", "object", properties={"a": Field("A", "string")})
    assert _error({"v": field}, {"v": "x"}) == "O must be an object but it was a string."
    assert _valid(field, {"a": "", "b": 1}) == {"a": ""}


def test_invalid_values_of_drop_invalid_fields_are_removed() -> None:
    fields = {
        "c": Field("C", "string", choices=("a",), drop_invalid=True),
        "m": Field("M", "number", multiple=True, drop_invalid=True),
        "k": Field("K", "string"),
    }
    assert compile_fields(fields)({"c": "x", "m": ["1", "x"], "k": "v"}) == {"k": "v"}
    assert compile_fields(fields)({"c": "a", "m": ["1"]}) == {"c": "a", "m": [1]}


def test_nested_text_fields_keep_empty_strings_and_an_empty_datetime_is_invalid() -> None:
    nested = {"t": Field("T", "text"), "p": Field("P", "password"), "d": Field("D", "datetime")}
    field = Field("O", "object", properties=nested)
    assert _valid(field, {"t": "", "p": ""}) == {"t": "", "p": ""}
    assert "D must be a valid date and time" in _error({"v": field}, {"v": {"d": ""}})
    assert "must be a valid date and time" in _error(
        {"v": Field("L", "datetime", multiple=True)}, {"v": [""]}
    )


def test_limits_apply_to_text_and_numbers_only() -> None:
    assert _valid(Field("B", "boolean", minimum=2, maximum=3), True) is True
    assert _valid(Field("O", "object", minimum=2), {"a": 1}) == {"a": 1}
    assert _valid(Field("W", "datetime", minimum=2e12), 1704164645) == "2024-01-02T03:04:05.000Z"
