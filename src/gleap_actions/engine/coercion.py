"""AJV's `coerceTypes: "array"` rules with JavaScript semantics, for one value and a list of JSON types.

AJV first accepts a value already of one of the types, then unwraps a one-element list, then tries each
type in the declared order: to string (number, boolean, null), to number/integer (boolean, null, numeric
string), to boolean (`"true"`/`"false"`, 1/0, null), to null (`""`, 0, false), to array (a scalar or null).
"""

from __future__ import annotations

import re
from typing import Any, Final

from gleap_actions.engine.jsvalues import js_number

FAIL: Final = object()
"""Returned when no type accepts the value."""

_SAFE_INT = 2**53
# JavaScript's StringToNumber: whitespace-trimmed decimal literal, or 0x/0o/0b integer. "Infinity" is left
# out on purpose: a coerced Infinity would reach Gleap as `null` (JSON has no Infinity).
_JS_WHITESPACE = (
    " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_RADIX = re.compile(r"0([xXoObB])([0-9a-fA-F]+)")
_RADIX_BASE = {"x": 16, "o": 8, "b": 2}


def js_type_of(value: Any) -> str:
    """The JSON type name of a value, as AJV reports it (`string`, `number`, `boolean`, `null`, ...)."""
    kind = type(value)
    if kind is str:
        return "string"
    if kind is bool:
        return "boolean"
    if kind is int or kind is float:
        return "number"
    if value is None:
        return "null"
    if kind is dict:
        return "object"
    if kind is list or kind is tuple:
        return "array"
    return kind.__name__


def is_type(value: Any, json_type: str) -> bool:
    """Whether `value` already has the JSON type `json_type` (AJV's `checkDataType`)."""
    kind = type(value)
    if json_type == "string":
        return kind is str
    if json_type == "number":
        return kind is int or kind is float
    if json_type == "integer":
        return kind is int or (kind is float and value.is_integer())
    if json_type == "boolean":
        return kind is bool
    if json_type == "object":
        return kind is dict
    if json_type == "array":
        return kind is list
    return value is None  # "null"


def js_to_number(text: str) -> float | int | None:
    """JavaScript `+text` for a string, or None where JavaScript would give NaN (or Infinity)."""
    stripped = text.strip(_JS_WHITESPACE)
    if not stripped:
        return 0
    if _DECIMAL.fullmatch(stripped):
        number = float(stripped)
        if number in (float("inf"), float("-inf")):
            return None
        return int(number) if number.is_integer() and abs(number) < _SAFE_INT else number
    if match := _RADIX.fullmatch(stripped):
        try:
            integer = int(match.group(2), _RADIX_BASE[match.group(1).lower()])
        except ValueError:
            return None
        return integer if integer < _SAFE_INT else float(integer)
    return None


def _coerce_to(value: Any, json_type: str) -> Any:
    kind = type(value)
    if json_type == "string":
        if kind is int or kind is float:
            return js_number(value)  # an int keeps every digit (JS would round beyond 2**53: an artefact)
        if kind is bool:
            return "true" if value else "false"
        if value is None:
            return ""
    elif json_type in ("number", "integer"):
        if kind is bool:
            return 1 if value else 0
        if value is None:
            return 0
        if kind is str and value:
            number = js_to_number(value)
            if number is not None and (json_type == "number" or float(number).is_integer()):
                return number
    elif json_type == "boolean":
        if value == "false" or value is None or (kind is not bool and kind in (int, float) and value == 0):
            return False
        if value == "true" or (kind is not bool and kind in (int, float) and value == 1):
            return True
    elif json_type == "null":
        if value == "" or value is False or (kind in (int, float) and value == 0):
            return None
    elif json_type == "array" and (kind in (str, int, float, bool) or value is None):
        return [value]
    return FAIL


def coerce(value: Any, types: tuple[str, ...]) -> Any:
    """`value` if it has one of `types`, else its AJV coercion to the first type accepting it, else FAIL."""
    for json_type in types:
        if is_type(value, json_type):
            return value
    if type(value) is list and len(value) == 1 and "array" not in types:
        value = value[0]
        for json_type in types:
            if is_type(value, json_type):
                return value
    for json_type in types:
        coerced = _coerce_to(value, json_type)
        if coerced is not FAIL:
            return coerced
    return FAIL
