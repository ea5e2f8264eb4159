"""A field's value has two ways through the validator: the fast path (a value of exactly the field's class,
and in its string choices if it has them, or an already canonical datetime, kept as is without a call;
a string of a format-only field passing its format check, kept as is without a call; `_fast_path` and
`plain_datetime` in `engine/fields.py`) and the general path (coercion, then every check:
choices, format, limits, datetime normalisation). One table runs against both: the validator as compiled,
and compiled with the fast paths turned off, so every value takes the general path."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gleap_actions.engine import fields
from gleap_actions.engine.errors import PayloadValidationError
from gleap_actions.engine.fields import Field, PayloadValidator, compile_fields

REMOVED = "<removed>"
Compiler = Callable[[dict[str, Field]], PayloadValidator]


def _as_compiled(definitions: dict[str, Field]) -> PayloadValidator:
    """The validator as the engine compiles it: values take the fast path where there is one."""
    return compile_fields(definitions)


@pytest.fixture
def general(monkeypatch: pytest.MonkeyPatch) -> Iterator[Compiler]:
    """Compiles with no fast path: no class or choice shortcut, no canonical-datetime shortcut."""

    def compile_general(definitions: dict[str, Field]) -> PayloadValidator:
        with monkeypatch.context() as patch:
            patch.setattr(fields, "_fast_path", lambda field: fields._NO_FAST_PATH)
            patch.setattr(fields, "canonical_datetime", lambda text: None)
            return compile_fields(definitions)

    yield compile_general


@pytest.fixture(params=["fast", "general"])
def compiler(request: pytest.FixtureRequest, general: Compiler) -> Compiler:
    """Each runner of the table."""
    return _as_compiled if request.param == "fast" else general


STRING = Field("S", "string")
CHOICE = Field("C", "string", choices=("a", "b", 1))
NULLABLE_CHOICE = Field("C", "text", choices=("a",), allow_null=True)
FLAG = Field("B", "boolean")
FLAG_CHOICE = Field("B", "boolean", choices=(True,))
OBJECT = Field("O", "object")
WHEN = Field("W", "datetime")
WHEN_RULED = Field("W", "datetime", choices=("2024-01-02T03:04:05.000Z",))
NULLABLE_STRING = Field("S", "password", allow_null=True)
NUMBER = Field("N", "number")
WHEN_LONG = Field("W", "datetime", minimum=30)
WHEN_SHORT = Field("W", "datetime", maximum=10)
WHEN_LIST = Field("W", "datetime", multiple=True)
EMAIL = Field("E", "string", format="email")
NOT_EMAIL = PayloadValidationError("E must be a valid email address string but it was not.")
NULLABLE_EMAIL = Field("E", "text", format="email", allow_null=True)
EMAIL_CHOICE = Field("E", "string", format="email", choices=("a@example.com",))
HOST_SHORT = Field("H", "string", format="hostname", maximum=5)

DATETIME_ERROR = "W must be a valid date and time (ISO 8601, RFC 2822, or Unix seconds or milliseconds)"

# (field, value, the validated value (REMOVED: the key is left out) or the start of the error)
CASES: list[tuple[Field, Any, Any]] = [
    # strings: kept as they are, or coerced like AJV; empty and null removed at the top level
    (STRING, "text", "text"),
    (STRING, " ", " "),
    (STRING, "", REMOVED),
    (STRING, None, REMOVED),
    (STRING, 12345, "12345"),
    (STRING, 1.5, "1.5"),
    (STRING, True, "true"),
    (STRING, ["a"], "a"),
    (STRING, {"a": 1}, PayloadValidationError("S must be a string but it was an object.")),
    (NULLABLE_STRING, None, None),
    (NULLABLE_STRING, "", REMOVED),
    # string choices: the fast path holds only the string choices, strictly
    (CHOICE, "a", "a"),
    (CHOICE, "b", "b"),
    (CHOICE, "A", PayloadValidationError('C must be one of: "a", "b", or 1.')),
    (CHOICE, 1, PayloadValidationError('C must be one of: "a", "b", or 1.')),
    (CHOICE, "1", PayloadValidationError('C must be one of: "a", "b", or 1.')),
    (NULLABLE_CHOICE, "a", "a"),
    (NULLABLE_CHOICE, None, None),
    (NULLABLE_CHOICE, "b", PayloadValidationError('C must be one of: "a" or null.')),
    # booleans: True and False as they are (False is kept: falsy is not empty), others coerced
    (FLAG, True, True),
    (FLAG, False, False),
    (FLAG, "true", True),
    (FLAG, "false", False),
    (FLAG, 0, False),
    (FLAG, "yes", PayloadValidationError("B must be a boolean but it was a string.")),
    (FLAG_CHOICE, True, True),
    (FLAG_CHOICE, False, PayloadValidationError("B must be one of: true.")),
    (FLAG_CHOICE, "true", True),
    # free-form objects: any object as it is, empty ones too
    (OBJECT, {"a": None, "b": ""}, {"a": None, "b": ""}),
    (OBJECT, {}, {}),
    (OBJECT, [], PayloadValidationError("O must be an object but it was an array.")),
    (OBJECT, "x", PayloadValidationError("O must be an object but it was a string.")),
    # datetimes: a canonical one as it is; others normalised; impossible dates explained
    (WHEN, "2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05.000Z"),
    (WHEN, "2024-01-02T03:04:05Z", "2024-01-02T03:04:05.000Z"),
    (WHEN, "2024-01-02T04:04:05.000+01:00", "2024-01-02T03:04:05.000Z"),
    (WHEN, "2024-01-02", "2024-01-02T00:00:00.000Z"),
    (WHEN, 1704164645, "2024-01-02T03:04:05.000Z"),
    (WHEN, "2024-02-30T03:04:05.000Z", PayloadValidationError(DATETIME_ERROR)),
    (WHEN, "nope", PayloadValidationError(DATETIME_ERROR)),
    (WHEN, True, PayloadValidationError(DATETIME_ERROR)),  # "true": not a date
    # a canonical datetime passes unchanged only where no other rule applies
    (NUMBER, "2024-01-02T03:04:05.000Z", PayloadValidationError("N must be a number but it was a string.")),
    (WHEN_LONG, "2024-01-02T03:04:05.000Z", PayloadValidationError("W must be 30 characters or more")),
    (WHEN_SHORT, "2024-01-02T03:04:05.000Z", PayloadValidationError("W must be 10 characters or fewer")),
    (WHEN_LIST, "2024-01-02T03:04:05.000Z", ["2024-01-02T03:04:05.000Z"]),
    (WHEN_RULED, "2024-01-02T03:04:05.000Z", "2024-01-02T03:04:05.000Z"),
    (
        WHEN_RULED,
        "2024-01-02T03:04:06.000Z",
        PayloadValidationError('W must be one of: "2024-01-02T03:04:05.000Z".'),
    ),
    # formats: a string passing the format check as it is; anything else coerced, then checked
    (EMAIL, "ada@example.com", "ada@example.com"),
    (EMAIL, "A.B+c@Example.COM", "A.B+c@Example.COM"),
    (EMAIL, "not an email", NOT_EMAIL),
    (EMAIL, "ü@example.com", NOT_EMAIL),
    (EMAIL, "", REMOVED),
    (EMAIL, None, REMOVED),
    (EMAIL, 42, NOT_EMAIL),
    (EMAIL, ["ada@example.com"], "ada@example.com"),
    (EMAIL, {"a": 1}, PayloadValidationError("E must be a string but it was an object.")),
    (NULLABLE_EMAIL, None, None),
    (NULLABLE_EMAIL, "ada@example.com", "ada@example.com"),
    (EMAIL_CHOICE, "a@example.com", "a@example.com"),
    (EMAIL_CHOICE, "b@example.com", PayloadValidationError('E must be one of: "a@example.com".')),
    (HOST_SHORT, "a.io", "a.io"),
    (HOST_SHORT, "abc.io", PayloadValidationError("H must be 5 characters or fewer but it was 6")),
]


def _outcome(validator: PayloadValidator, payload: dict[str, Any], *keys: str) -> Any:
    """The validated value at `keys` (REMOVED when left out), or the validation error."""
    try:
        value: Any = validator(payload)
    except PayloadValidationError as error:
        return error
    for key in keys:
        value = value.get(key, REMOVED)
    return value


def _check(got: Any, expected: Any) -> None:
    if isinstance(expected, PayloadValidationError):
        assert isinstance(got, PayloadValidationError)
        assert str(got).startswith(str(expected))
    else:
        assert got == expected
        assert type(got) is type(expected)


@pytest.mark.parametrize(("field", "value", "expected"), CASES)
def test_both_paths_agree_with_the_table(compiler: Compiler, field: Field, value: Any, expected: Any) -> None:
    _check(_outcome(compiler({"v": field}), {"v": value}, "v"), expected)


@pytest.mark.parametrize(("field", "value", "expected"), CASES)
def test_both_paths_agree_nested_in_an_object(
    compiler: Compiler, field: Field, value: Any, expected: Any
) -> None:
    """Inside an object field the same rules hold, except that a nested text field keeps `""`."""
    validator = compiler({"o": Field("Outer", "object", properties={"v": field})})
    if value == "" and field.type in ("string", "text", "password"):
        # kept, so a format field checks it
        expected = "" if field.format is None else PayloadValidationError(f"{field.label} must be a valid")
    _check(_outcome(validator, {"o": {"v": value}}, "o", "v"), expected)


def test_the_runners_take_the_paths_they_are_named_for(general: Compiler) -> None:
    """Guards the table: compiled as is, a string, a choice and a format field get their shortcuts; turned
    off, none."""
    definitions = {"s": STRING, "c": CHOICE, "w": WHEN, "e": EMAIL}
    fast_names = _as_compiled(definitions)._check.__globals__
    assert fast_names["accepts_0"] is str and fast_names["allowed_1"] == frozenset({"a", "b"})
    assert fast_names["accepts_3"] is str and fast_names["valid_3"]("ada@example.com")
    assert fast_names["canonical_datetime"]("2024-01-02T03:04:05.000Z") == "2024-01-02T03:04:05.000Z"
    general_names = general(definitions)._check.__globals__
    assert "accepts_0" not in general_names and "allowed_1" not in general_names
    assert "valid_3" not in general_names
    assert general_names["canonical_datetime"]("2024-01-02T03:04:05.000Z") is None
