"""Field definitions of an action, compiled once into a validator that behaves like Segment's AJV setup.

`compile_fields(fields)` returns a `PayloadValidator`; calling it on a mapped payload:

1. removes empty values (Segment's `removeEmptyValues` with its single-event rule, which we apply to batches
   too): `null` unless the field allows null, `""` at the top level and, nested, where the field is not a
   string; list items that would be removed;
2. drops keys that are not declared (at the top level and inside objects that declare `properties`);
3. wraps a top-level scalar given to a `multiple` field in a list, then coerces types like AJV's
   `coerceTypes: "array"` (`12345` -> `"12345"`, `["a"]` -> `"a"`, `"3.5"` -> `3.5`);
4. checks `required`, `choices`, `format`, lengths and ranges, and normalises `datetime` values to ISO 8601
   UTC with milliseconds;

and returns a new payload or raises `PayloadValidationError` with every problem in Segment's words
(`The root value is missing the required field 'userId'. User Value must be a number but it was a string.`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, NamedTuple, cast

from gleap_actions.engine.coercion import FAIL, coerce, js_type_of
from gleap_actions.engine.datetimes import InvalidDatetime, canonical_datetime, normalize_datetime
from gleap_actions.engine.errors import PayloadValidationError
from gleap_actions.engine.formats import FORMAT_LABELS, FORMATS
from gleap_actions.engine.jsjson import dumps as js_dumps
from gleap_actions.engine.jsvalues import js_number

FieldType = Literal["string", "text", "password", "number", "integer", "boolean", "datetime", "object"]

_MISSING: Final = object()
_INVALID: Final = object()

_JSON_TYPES: dict[str, tuple[str, ...]] = {
    "string": ("string",),
    "text": ("string",),
    "password": ("string",),
    "number": ("number",),
    "integer": ("integer",),
    "boolean": ("boolean",),
    "datetime": ("string", "number"),
    "object": ("object",),
}
_FAST_TYPES: dict[str, type] = {"string": str, "text": str, "password": str, "boolean": bool, "object": dict}
# Python classes whose values need no coercion for a JSON type (an integer may be a float like 3.0: coerce).
_DIRECT_CLASSES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "object": (dict,),
}
_KIND_PHRASES = {"object": "an object", "array": "an array", "null": "null", "integer": "an integer"}


@dataclass(frozen=True, slots=True)
class Field:
    """One input field of an action (Segment's `InputField`).

    `default` is the field's default mapping (usually a directive such as `{"@path": "$.userId"}`); it is
    never applied to a payload, only used to build the action's default mapping. `hidden` is a UI hint.
    `drop_invalid` makes a value that fails validation disappear instead of rejecting the payload.
    """

    label: str
    type: FieldType
    description: str = ""
    required: bool = False
    multiple: bool = False
    choices: tuple[Any, ...] | None = None
    allow_null: bool = False
    format: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    properties: Mapping[str, Field] | None = None
    additional_properties: bool = False
    default: Any = None
    hidden: bool = False
    drop_invalid: bool = False


def default_mapping(fields: Mapping[str, Field]) -> dict[str, Any]:
    """The mapping made of every field's default (Segment's `defaultValues`), in field order."""
    return {key: field.default for key, field in fields.items() if field.default is not None}


def _capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]


def _or_list(items: list[str]) -> str:
    """ajv-human-errors' `humanizeList(items, "or")`: `a`, `a or b`, `a, b, or c`."""
    if len(items) <= 2:
        return " or ".join(items)
    return ", ".join(items[:-1]) + ", or " + items[-1]


def _types_phrase(types: tuple[str, ...]) -> str:
    expected = _or_list(list(types))
    return ("an " if expected[0] in "aeiou" else "a ") + expected


def _kind_phrase(value: Any) -> str:
    kind = js_type_of(value)
    return _KIND_PHRASES.get(kind, f"a {kind}")


def _enum_phrase(choices: tuple[Any, ...]) -> str:
    return _or_list([js_dumps(choice).decode() for choice in choices])


def _plural(count: int | float, word: str) -> str:
    return f"{js_number(count)} {word}" if count == 1 else f"{js_number(count)} {word}s"


Check = Callable[[Any, list[str], str], Any]
"""A compiled field check: (value, errors, subject) -> the coerced value, or _INVALID after adding errors."""


class _NoFastPath:
    """A type no value has: numbers always go through coercion (a bool is not a number)."""


def _in_choices(value: Any, choices: tuple[Any, ...]) -> bool:
    # JavaScript `===`: True is not 1.
    return any(value == choice and (type(value) is bool) == (type(choice) is bool) for choice in choices)


class _FastPath(NamedTuple):
    """What a value of a field is valid as with no coercion: exactly the class `accepts`, in `allowed` when
    given, and passing the string format check `valid` when given."""

    accepts: type
    allowed: frozenset[Any] | None = None
    valid: Callable[[str], bool] | None = None


_NO_FAST_PATH = _FastPath(_NoFastPath)


def _fast_path(field: Field) -> _FastPath:
    """The class (and the values, or the format) one value of `field` is valid as, with no other check."""
    fast_type = _FAST_TYPES.get(field.type, _NoFastPath)
    if field.properties is not None or field.minimum or field.maximum:
        return _NO_FAST_PATH
    if field.format is not None:
        # A string passing its format check (an email address) needs nothing else when there are no choices.
        if fast_type is str and field.choices is None and field.format in FORMATS:
            return _FastPath(str, None, FORMATS[field.format])
        return _NO_FAST_PATH
    if field.choices is None:
        return _FastPath(fast_type)
    if fast_type is str:
        return _FastPath(str, frozenset(choice for choice in field.choices if type(choice) is str))
    return _NO_FAST_PATH


def _scalar_check(field: Field, nullable: bool) -> Check:
    """Coercion and checks of one (non-list) value of `field`."""
    types = _JSON_TYPES[field.type] + (("null",) if nullable else ())
    type_text = _types_phrase(types)
    choices = field.choices
    if choices is not None and nullable:
        choices = (*choices, None)
    fmt = field.format
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r} for field {field.label!r}")
    format_check = FORMATS[fmt] if fmt is not None and field.type != "datetime" else None
    format_label = FORMAT_LABELS.get(fmt or "", fmt)
    # Segment only emits truthy limits, and none for integers.
    low = field.minimum or None if field.type != "integer" else None
    high = field.maximum or None if field.type != "integer" else None
    is_datetime = field.type == "datetime"
    accepts, allowed, valid = _fast_path(field)
    direct = frozenset(cls for json_type in types for cls in _DIRECT_CLASSES.get(json_type, ()))

    def check(value: Any, errors: list[str], subject: str) -> Any:
        if (
            type(value) is accepts
            and (allowed is None or value in allowed)
            and (valid is None or valid(cast(str, value)))  # a format is only given for strings
        ):
            return value
        coerced: Any = value if type(value) in direct else coerce(value, types)
        if coerced is FAIL:
            errors.append(f"{_capitalize(subject)} must be {type_text} but it was {_kind_phrase(value)}.")
            return _INVALID
        if coerced is None:
            return None
        problems = len(errors)
        if choices is not None and not _in_choices(coerced, choices):
            errors.append(f"{_capitalize(subject)} must be one of: {_enum_phrase(choices)}.")
        if type(coerced) is str:
            if format_check is not None and not format_check(coerced):
                errors.append(f"{_capitalize(subject)} must be a valid {format_label} string but it was not.")
            if low is not None and len(coerced) < low:
                errors.append(
                    f"{_capitalize(subject)} must be {_plural(low, 'character')} or more "
                    f"but it was {_plural(len(coerced), 'character')}."
                )
            if high is not None and len(coerced) > high:
                errors.append(
                    f"{_capitalize(subject)} must be {_plural(high, 'character')} or fewer "
                    f"but it was {_plural(len(coerced), 'character')}."
                )
        elif type(coerced) in (int, float) and not is_datetime:
            if low is not None and coerced < low:
                errors.append(f"{_capitalize(subject)} must be equal to or greater than {js_number(low)}.")
            if high is not None and coerced > high:
                errors.append(f"{_capitalize(subject)} must be equal to or less than {js_number(high)}.")
        if is_datetime and len(errors) == problems:
            try:
                return normalize_datetime(coerced)
            except InvalidDatetime as error:
                errors.append(
                    f"{_capitalize(subject)} must be a valid date and time (ISO 8601, RFC 2822, or Unix "
                    f"seconds or milliseconds) but it was not ({error})."
                )
        return coerced if len(errors) == problems else _INVALID

    return check


class _Prop(NamedTuple):
    """A compiled property of an object: empty-value rules and the value check."""

    key: str
    required: bool
    keeps_null: bool  # allow_null
    keeps_empty_string: bool  # nested string fields only: the top level drops "" everywhere
    wraps: bool  # top-level `multiple` field: a scalar becomes a one-element list (Segment's "arrify")
    check: Check
    label: str
    fast: _FastPath  # values of exactly its class (in `allowed`, passing `valid`) pass unchanged, unchecked
    plain_datetime: bool  # a datetime with no other rule: a canonical string passes unchanged, without a call


def _object_check(properties: Mapping[str, Field], additional: bool, pointer: str) -> Check:
    """Checks an object against nested field definitions (empty removal, required, unknown keys)."""
    check_object = _object_function(_compile_props(properties, pointer, is_root=False))
    declared = frozenset(properties)

    def check(value: Any, errors: list[str], subject: str) -> Any:
        coerced = coerce(value, ("object",))
        if coerced is FAIL:
            errors.append(f"{_capitalize(subject)} must be an object but it was {_kind_phrase(value)}.")
            return _INVALID
        result = check_object(coerced, errors, subject)
        if result is _INVALID or not additional:
            return result
        # Undeclared keys are kept, in their original order.
        return {k: result.get(k, v) for k, v in coerced.items() if k in result or k not in declared}

    return check


def _value_check(field: Field, pointer: str) -> Check:
    """The check of a field's whole value: its scalar or object check, or a list of them for `multiple`."""
    if field.type == "object" and field.properties is not None:
        single = _object_check(field.properties, field.additional_properties, pointer)
    else:
        single = _scalar_check(field, nullable=field.allow_null and not field.multiple)
    if not field.multiple:
        return single
    item_keeps_empty = field.type in ("string", "text", "password", "datetime")

    def check_list(value: Any, errors: list[str], subject: str) -> Any:
        items = coerce(value, ("array",))
        if items is FAIL:
            errors.append(f"{_capitalize(subject)} must be an array but it was {_kind_phrase(value)}.")
            return _INVALID
        kept = [
            item for item in items if item is not None and (item_keeps_empty or type(item) is not str or item)
        ]
        problems = len(errors)
        out = [single(item, errors, f"the value at {pointer}/{index}") for index, item in enumerate(kept)]
        return out if len(errors) == problems else _INVALID

    return check_list


def _compile_props(fields: Mapping[str, Field], pointer: str, *, is_root: bool) -> tuple[_Prop, ...]:
    props = []
    for key, field in fields.items():
        check = _value_check(field, f"{pointer}/{key}")
        if field.drop_invalid:
            check = _dropping(check)
        is_string = field.type in ("string", "text", "password", "datetime")
        # The object check accepts these without calling `check` (not lists or nested objects).
        fast = _fast_path(field) if not field.multiple else _NO_FAST_PATH
        plain_datetime = field.type == "datetime" and not (
            field.multiple or field.choices is not None or field.minimum or field.maximum
        )
        props.append(
            _Prop(
                key=key,
                required=field.required,
                keeps_null=field.allow_null and not field.multiple,
                keeps_empty_string=is_string and not field.multiple and not is_root,
                wraps=field.multiple and is_root,
                check=check,
                label=field.label,
                fast=fast,
                plain_datetime=plain_datetime,
            )
        )
    return tuple(props)


def _dropping(check: Check) -> Check:
    def lenient(value: Any, errors: list[str], subject: str) -> Any:
        ignored: list[str] = []
        result = check(value, ignored, subject)
        return _MISSING if result is _INVALID else result

    return lenient


ObjectCheck = Callable[[Mapping[str, Any], list[str], str], Any]
"""A compiled object check: (object, errors, subject) -> the validated object, or _INVALID (errors added)."""


def _object_function(props: tuple[_Prop, ...]) -> ObjectCheck:
    """The check of an object against `props`, as Python source generated for them and compiled once.

    For each property, in order: a value the fast path accepts (`_FastPath`, or a canonical datetime) is
    kept as is; a missing value, a null (unless `keeps_null`) and `""` (unless
    `keeps_empty_string`) are removed; a scalar of a `wraps` field becomes a one-element list; anything
    else goes through the property's `check`. Then the required keys are checked and the errors reported
    (required first); undeclared keys are dropped.

    This runs for every event, so each property's flags are decided here rather than read per event: the
    generated function is one flat chain of `if`s, about 1.5x as fast as a loop over the properties.
    """
    names: dict[str, Any] = {"MISSING": _MISSING, "canonical_datetime": canonical_datetime}
    lines = ["def check_object(payload, errors, subject):", "    out = {}", "    problems = []"]
    lines.append("    get = payload.get")
    for number, prop in enumerate(props):
        key = repr(prop.key)  # field keys are str: their repr is a Python literal
        names[f"check_{number}"], names[f"label_{number}"] = prop.check, prop.label
        lines.append(f"    value = get({key}, MISSING)")
        slow = "if"
        if prop.fast.accepts is not _NoFastPath:
            names[f"accepts_{number}"] = prop.fast.accepts
            fast = f"type(value) is accepts_{number} and value"
            if prop.fast.allowed is not None:
                names[f"allowed_{number}"] = prop.fast.allowed
                fast += f" and value in allowed_{number}"
            if prop.fast.valid is not None:
                names[f"valid_{number}"] = prop.fast.valid
                fast += f" and valid_{number}(value)"
            lines += [f"    if {fast}:", f"        out[{key}] = value"]
            slow = "elif"
        elif prop.plain_datetime:
            fast = "type(value) is str and (result := canonical_datetime(value)) is not None"
            lines += [f"    if {fast}:", f"        out[{key}] = result"]
            slow = "elif"
        present = "value is not MISSING"
        if not prop.keeps_null:
            present += " and value is not None"
        if not prop.keeps_empty_string:
            present += " and (type(value) is not str or value)"
        lines.append(f"    {slow} {present}:")
        if prop.wraps:
            lines += [
                "        if type(value) is not list and value is not None:",
                "            value = [value]",
            ]
        lines += [
            f"        result = check_{number}(value, problems, label_{number})",
            "        if result is not MISSING:",
            # may be _INVALID: present for `required`, and the errors reject the object anyway
            f"            out[{key}] = result",
        ]
    required = tuple(prop.key for prop in props if prop.required)
    incomplete = "".join(f" or {key!r} not in out" for key in required)
    lines += [
        f"    if problems{incomplete}:",
        "        return finish(out, problems, errors, subject)",
        "    return out",
    ]

    def finish(out: dict[str, Any], problems: list[str], errors: list[str], subject: str) -> Any:
        start = len(errors)
        for key in required:
            if key not in out:
                errors.append(f"{_capitalize(subject)} is missing the required field '{key}'.")
        errors.extend(problems)
        return out if len(errors) == start else _INVALID

    names["finish"] = finish
    exec(compile("\n".join(lines), "<field validator>", "exec"), names)  # our own source, from field keys
    return cast(ObjectCheck, names["check_object"])


class PayloadValidator:
    """A compiled field schema; call it on a mapped payload to get the validated payload."""

    __slots__ = ("_check", "fields")

    def __init__(self, fields: Mapping[str, Field]) -> None:
        self.fields = dict(fields)
        self._check = _object_function(_compile_props(self.fields, pointer="", is_root=True))

    def __call__(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and coerce `payload`; raises `PayloadValidationError` listing every problem."""
        if type(payload) is not dict:
            raise PayloadValidationError(
                f"The root value must be an object but it was {_kind_phrase(payload)}."
            )
        errors: list[str] = []
        result: dict[str, Any] = self._check(payload, errors, "the root value")  # no cast: a call per event
        if errors:
            raise PayloadValidationError(" ".join(errors))
        return result


def compile_fields(fields: Mapping[str, Field]) -> PayloadValidator:
    """Compile field definitions once into a fast validator (raises ValueError for an unknown format)."""
    return PayloadValidator(fields)
