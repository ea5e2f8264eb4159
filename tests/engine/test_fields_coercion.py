"""AJV `coerceTypes: "array"` with JavaScript semantics, through compiled fields."""

from __future__ import annotations

from typing import Any

import pytest

from gleap_actions.engine.coercion import FAIL, coerce, is_type, js_to_number, js_type_of
from gleap_actions.engine.errors import PayloadValidationError
from gleap_actions.engine.fields import Field, FieldType, compile_fields
from gleap_actions.engine.formats import FORMATS, _is_ip


def _coerce(kind: FieldType, value: Any, **options: Any) -> Any:
    return compile_fields({"f": Field("F", kind, **options)})({"f": value}).get("f", "<removed>")


def _message(kind: FieldType, value: Any, label: str = "F", **options: Any) -> str:
    with pytest.raises(PayloadValidationError) as caught:
        compile_fields({"f": Field(label, kind, **options)})({"f": value})
    return str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12345, "12345"),
        (True, "true"),
        (False, "false"),
        (1.5, "1.5"),
        (10.0, "10"),
        (1e21, "1e+21"),
        (12345678901234567890, "12345678901234567890"),
        (["a"], "a"),
        ([7], "7"),
    ],
)
def test_to_string(value: Any, expected: str) -> None:
    assert _coerce("string", value) == expected


def test_string_rejections_name_the_real_type() -> None:
    assert _message("string", ["a", "b"], "User ID") == "User ID must be a string but it was an array."
    assert _message("string", {"id": 1}, "User ID") == "User ID must be a string but it was an object."


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("123", 123),
        ("3.5", 3.5),
        ("1e3", 1000),
        (" 12 ", 12),
        (" ", 0),
        ("0x10", 16),
        ("-0.5", -0.5),
        (".5", 0.5),
        (True, 1),
        (False, 0),
        (["42"], 42),
        (7, 7),
        (7.25, 7.25),
    ],
)
def test_to_number(value: Any, expected: float) -> None:
    result = _coerce("number", value)
    assert result == expected
    assert type(result) is not bool


@pytest.mark.parametrize(
    "value", ["abc", "Infinity", "-Infinity", "1_000", "inf", "nan", "0x", "1e", {}, [1, 2]]
)
def test_not_numbers(value: Any) -> None:
    message = _message("number", value, "User Value")
    assert message.startswith("User Value must be a number but it was ")


def test_integer_rejects_fractions() -> None:
    assert _coerce("integer", "4") == 4
    assert _coerce("integer", 4.0) == 4.0
    assert _message("integer", 3.5, "I") == "I must be an integer but it was a number."
    assert _message("integer", "3.5", "I") == "I must be an integer but it was a string."


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("false", False), (1, True), (0, False), (0.0, False), (True, True)],
)
def test_to_boolean(value: Any, expected: bool) -> None:
    assert _coerce("boolean", value) is expected


@pytest.mark.parametrize("value", ["yes", 2, "1", {}])
def test_not_booleans(value: Any) -> None:
    assert _message("boolean", value).startswith("F must be a boolean but it was ")


def test_allow_null_coerces_empty_values_to_null() -> None:
    assert _coerce("number", None, allow_null=True) is None
    nested = {"o": Field("O", "object", properties={"n": Field("N", "number", allow_null=True)})}
    assert compile_fields(nested)({"o": {"n": None}}) == {"o": {"n": None}}
    assert compile_fields(nested)({"o": {"n": ""}}) == {"o": {}}  # "" is removed where no string is allowed
    assert _coerce("string", None, allow_null=True) is None
    assert _message("number", {}, allow_null=True) == "F must be a number or null but it was an object."


def test_multiple_wraps_scalars_and_objects_at_the_top_level() -> None:
    assert _coerce("string", "value", multiple=True) == ["value"]
    assert _coerce("object", {"a": 1}, multiple=True) == [{"a": 1}]
    assert _coerce("string", [1, True], multiple=True) == ["1", "true"]


def test_nested_multiple_wraps_scalars_but_not_objects() -> None:
    fields = {"o": Field("O", "object", properties={"tags": Field("Tags", "string", multiple=True)})}
    assert compile_fields(fields)({"o": {"tags": "x"}}) == {"o": {"tags": ["x"]}}
    with pytest.raises(PayloadValidationError, match=r"^Tags must be an array but it was an object\.$"):
        compile_fields(fields)({"o": {"tags": {"a": 1}}})


def test_objects_are_not_coerced() -> None:
    assert (
        _message("object", [1, 2, 3], "Event Metadata")
        == "Event Metadata must be an object but it was an array."
    )
    assert (
        _message("object", "x", "Event Metadata") == "Event Metadata must be an object but it was a string."
    )
    assert _coerce("object", [{"a": 1}]) == {"a": 1}


def test_union_type_messages() -> None:
    assert _message("datetime", {"a": 1}, "D") == "D must be a string or number but it was an object."
    message = _message("datetime", [1, 2], "D", allow_null=True)
    assert message == "D must be a string, number, or null but it was an array."
    message = _message("integer", "x", "I", allow_null=True)
    assert message == "I must be an integer or null but it was a string."


# -- AJV coercion of one value, rule by rule ------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "types", "expected"),
    [
        (None, ("string",), ""),
        (True, ("string",), "true"),
        (False, ("string",), "false"),
        (1.5, ("string",), "1.5"),
        (True, ("number",), 1),
        (False, ("integer",), 0),
        (None, ("number",), 0),
        (" 12 ", ("number",), 12),
        ("1.5", ("integer",), FAIL),
        ("", ("number",), FAIL),
        ("false", ("boolean",), False),
        (0, ("boolean",), False),
        (None, ("boolean",), False),
        (1, ("boolean",), True),
        ("true", ("boolean",), True),
        (2, ("boolean",), FAIL),
        ("", ("null",), None),
        (False, ("null",), None),
        (0, ("null",), None),
        (0.0, ("null",), None),
        (1, ("null",), FAIL),
        (True, ("null",), FAIL),
        ("x", ("null",), FAIL),
        ("x", ("array",), ["x"]),
        (None, ("array",), [None]),
        ({}, ("array",), FAIL),
        ([5], ("number",), 5),
        (["5"], ("number",), 5),
        ([5], ("array",), [5]),
        (1.5, ("number",), 1.5),
        (True, ("boolean",), True),
        ("x", ("boolean", "string"), "x"),
    ],
)
def test_coerce(value: Any, types: tuple[str, ...], expected: Any) -> None:
    result = coerce(value, types)
    assert result is FAIL if expected is FAIL else (result == expected and type(result) is type(expected))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("\ufeff12\u3000", 12),  # JavaScript's whitespace includes the BOM (Python's strip() does not)
        ("1e400", None),
        ("-1e400", None),
        ("1.0", 1),
        ("9007199254740991", 9007199254740991),
        ("9007199254740992", 9007199254740992.0),
        ("0x1F", 31),
        ("0b101", 5),
        ("0O17", 15),
        ("0x20000000000000", 9007199254740992.0),
        ("0x1fffffffffffff", 9007199254740991),
        ("0b12", None),
        ("12px", None),
        ("  ", 0),
    ],
)
def test_js_to_number(text: str, expected: Any) -> None:
    result = js_to_number(text)
    assert result == expected and type(result) is type(expected)


def test_js_type_of_and_is_type() -> None:
    assert [js_type_of(v) for v in ("", True, 1, 1.5, None, {}, [], (1,), {1})] == [
        "string", "boolean", "number", "number", "null", "object", "array", "array", "set"
    ]  # fmt: skip
    assert is_type(1, "number") and is_type(1.5, "number") and not is_type(True, "number")
    assert is_type(True, "boolean") and not is_type(1, "boolean") and is_type(None, "null")


@pytest.mark.parametrize(
    ("fmt", "valid", "invalid"),
    [
        ("date", ["2024-02-29"], ["2023-02-29", "2024-13-01", "nope"]),
        (
            "time",
            ["23:59:59", "23:59:60", "00:00:00z", "12:00:00+01:00"],
            ["24:00:00", "23:60:00", "22:59:60", "23:58:60", "x"],
        ),
        (
            "date-time",
            ["2024-01-02T03:04:05Z", "2024-01-02 03:04:05+01:00"],
            ["2024-01-02", "2024-01-02T25:00:00Z"],
        ),
        ("ipv4", ["1.2.3.4"], ["::1", "1.2.3", "x"]),
        ("ipv6", ["::1"], ["1.2.3.4", "x"]),
        ("regex", ["a+b", "^x$", ""], ["(", "[a-", "*"]),
    ],
)
def test_formats(fmt: str, valid: list[str], invalid: list[str]) -> None:
    check = FORMATS[fmt]
    assert [check(text) for text in valid] == [True] * len(valid)
    assert [check(text) for text in invalid] == [False] * len(invalid)


@pytest.mark.parametrize(
    ("version", "valid", "invalid"),
    [(4, "192.168.0.1", "::1"), (6, "::1", "192.168.0.1")],
)
def test_ip_checks_built_again_accept_only_their_version(version: int, valid: str, invalid: str) -> None:
    """`FORMATS` builds its IP checks at import; built again here, a change to how they are built shows."""
    check = _is_ip(version)
    assert (check(valid), check(invalid), check("not an address")) == (True, False, False)
