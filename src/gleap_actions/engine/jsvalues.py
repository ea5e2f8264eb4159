"""JavaScript value semantics that Segment's behaviour depends on, for JSON values held in Python.

Segment's engine is JavaScript, so some observable results depend on JS rules: which values are
"falsy", how `String(x)` prints numbers (`1.0` -> `"1"`, `1e21` -> `"1e+21"`), and how
`JSON.stringify` prints a value. JS also has two empty values; `undefined` ("absent") is modelled by
the `MISSING` sentinel and `null` by `None`.

Deliberate differences (docs/compatibility/mapping.md): a plain object prints as compact JSON rather
than `"[object Object]"`, and Python integers print exactly (JS would round those beyond 2**53).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

import orjson

__all__ = [
    "MISSING",
    "Missing",
    "is_loosely_blank",
    "is_truthy",
    "js_json",
    "js_length",
    "js_number",
    "js_string",
    "real_type",
]


class Missing:
    """The type of `MISSING`: JavaScript's `undefined`, a value that is absent (not JSON null)."""

    _instance: Missing | None = None

    def __new__(cls) -> Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "MISSING"

    def __reduce__(self) -> str:
        return "MISSING"


MISSING: Final = Missing()


def is_truthy(value: Any) -> bool:
    """JavaScript truthiness: `undefined`, `null`, `false`, `0`, `NaN` and `""` are falsy.

    Unlike Python, empty objects and arrays are truthy.
    """
    if value is None or value is MISSING or value is False:
        return False
    if isinstance(value, str):
        return value != ""
    if isinstance(value, int | float):
        return value == value and value != 0  # NaN != NaN
    return True


def js_length(text: str) -> int:
    """JavaScript `text.length`: UTF-16 code units (a character outside the BMP counts twice)."""
    if text.isascii():
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def real_type(value: Any) -> str:
    """Segment's `realTypeOf`: string, number, boolean, null, undefined, object or array.

    A non-JSON Python value is named by its Python type (e.g. `date`), as JS names its own types.
    """
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    if value is MISSING:
        return "undefined"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def js_number(value: float) -> str:
    """ECMAScript `Number::toString` for a Python number (`1.0` -> `"1"`, `1e21` -> `"1e+21"`).

    Integers are printed exactly; floats use the shortest round-trip digits (the same digits JS
    picks) laid out by the ECMAScript rules for plain or exponential notation.
    """
    if isinstance(value, int):
        return str(value)
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < 2**53:  # exact: beyond, JS pads shortest digits with zeros
        return str(int(value))
    sign = "-" if value < 0 else ""
    mantissa, _, exp = repr(abs(value)).partition("e")
    whole, _, frac = mantissa.partition(".")
    digits = whole + frac
    point = len(whole) + (int(exp) if exp else 0)  # value = 0.digits * 10**point
    stripped = digits.lstrip("0")
    point -= len(digits) - len(stripped)
    digits = stripped.rstrip("0") or "0"
    k, n = len(digits), point
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        exp_text = f"e{'+' if e >= 0 else '-'}{abs(e)}"
        text = (digits if k == 1 else digits[0] + "." + digits[1:]) + exp_text
    return sign + text


def js_string(value: Any) -> str:
    """JavaScript `String(value)` for JSON values (`true` -> `"true"`, `null` -> `"null"`).

    Arrays join their elements with `,` (null and undefined elements print as nothing, nested
    arrays flatten); a plain object prints as compact JSON (deliberately not `"[object Object]"`).
    """
    if isinstance(value, str):
        return value
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return js_number(value)
    if value is None:
        return "null"
    if value is MISSING:
        return "undefined"
    if isinstance(value, list):
        return ",".join("" if item is None or item is MISSING else js_string(item) for item in value)
    if isinstance(value, dict):
        return js_json(value)
    return str(value)


def is_loosely_blank(value: Any) -> bool:
    """JavaScript `value == ""` for a value that is neither null nor undefined.

    True for `""`, `0`, `false` and arrays whose comma-join is empty (`[]`, `[""]`, `[null]`).
    """
    if isinstance(value, str):
        return value == ""
    if isinstance(value, int | float):  # includes booleans: false == "" but true != ""
        return value == 0
    if isinstance(value, list):
        return js_string(value) == ""
    return False


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _json_string(text: str) -> str:
    try:
        return orjson.dumps(text).decode()
    except TypeError:  # lone surrogates: JSON.stringify escapes them as \udxxx
        encoded = json.dumps(text, ensure_ascii=False)
        return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", encoded)


def js_json(value: Any) -> str:
    """JavaScript `JSON.stringify(value)`: compact, keys in order, non-ASCII kept, JS numbers.

    Undefined object properties are left out and undefined array elements print as `null`, as do
    `NaN` and infinities. `MISSING` itself has no JSON text; callers handle it first.
    """
    if isinstance(value, str):
        return _json_string(value)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None or value is MISSING:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "null" if value != value or math.isinf(value) else js_number(value)
    if isinstance(value, list):
        return "[" + ",".join(js_json(item) for item in value) + "]"
    if isinstance(value, dict):
        parts = [
            _json_string(str(key)) + ":" + js_json(item) for key, item in value.items() if item is not MISSING
        ]
        return "{" + ",".join(parts) + "}"
    return _json_string(str(value))
