"""JSON bodies byte-for-byte as JavaScript's `JSON.stringify` writes them.

Segment's destinations run on Node, so Gleap receives JavaScript's JSON. orjson already agrees on strings
(raw UTF-8, U+2028 raw, control characters as `\\u00XX`, `/` and `<` unescaped) and on most numbers; it
differs on integral floats (`10.0` vs `10`), `-0.0`, the exponent thresholds (JS writes plain digits for
1e-6 <= |x| < 1e21) and integers beyond 2**53 (JS only has doubles). `dumps` rewrites just those values
and lets orjson do the rest.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

_SAFE_INT = 2**53
# orjson writes plain decimals for 1e-5 <= |x| < 1e16, exactly like JS, except integral values (`10.0`).
_ORJSON_PLAIN_LOW = 1e-5
_ORJSON_PLAIN_HIGH = 1e16


def js_number_str(value: float | int) -> str:
    """`String(value)` for a JavaScript number: shortest round-trip digits in JS notation."""
    if isinstance(value, int):
        if -_SAFE_INT < value < _SAFE_INT:
            return str(value)
        value = float(value)
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    mantissa, _, exponent = repr(abs(value)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    if fraction == "0":
        fraction = ""
    digits = (whole + fraction).lstrip("0")
    # n: position of the decimal point relative to the first significant digit (ECMA-262 Number::toString).
    point = len(whole) + (int(exponent) if exponent else 0)
    if whole == "0":
        point -= len(fraction) - len(fraction.lstrip("0")) + 1
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= point <= 21:
        return sign + digits + "0" * (point - k)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * (-point) + digits
    exp = point - 1
    exp_text = ("e+" if exp >= 0 else "e-") + str(abs(exp))
    if k == 1:
        return sign + digits + exp_text
    return sign + digits[0] + "." + digits[1:] + exp_text


def _fix_number(value: float) -> Any:
    """The value orjson must see for `value` to come out as JavaScript writes it."""
    magnitude = abs(value)
    if value.is_integer():
        if magnitude < _SAFE_INT:
            return int(value)  # also turns -0.0 into 0
        return orjson.Fragment(js_number_str(value).encode())
    if _ORJSON_PLAIN_LOW <= magnitude < _ORJSON_PLAIN_HIGH or value != value or math.isinf(value):
        return value
    return orjson.Fragment(js_number_str(value).encode())


def _js_ready(value: Any) -> Any:
    """`value` with every number orjson would write differently replaced; unchanged objects are reused."""
    kind = value.__class__
    if kind is dict:
        return _ready_dict(value)
    if kind is list or kind is tuple:
        return _ready_list(value)
    if kind is float:
        return _fix_number(value)
    if kind is int and not -_SAFE_INT < value < _SAFE_INT:
        return orjson.Fragment(js_number_str(value).encode())
    return value


_FIXABLE = frozenset({dict, list, tuple, float, int})


def _ready_item(item: Any) -> Any:
    """The replacement of a container item, or the item itself (dispatch kept flat: this is per value)."""
    kind = item.__class__
    if kind is dict:
        return _ready_dict(item)
    if kind is list or kind is tuple:
        return _ready_list(item)
    if kind is float:
        return _fix_number(item)
    return orjson.Fragment(js_number_str(item).encode())  # an int beyond 2**53


def _ready_dict(value: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] | None = None
    for key, item in value.items():
        kind = item.__class__
        if kind is str or kind is bool or item is None or (kind is int and -_SAFE_INT < item < _SAFE_INT):
            continue
        if kind not in _FIXABLE:
            continue
        fixed = _ready_item(item)
        if fixed is not item:
            if changed is None:
                changed = dict(value)
            changed[key] = fixed
    return value if changed is None else changed


def _ready_list(value: list[Any] | tuple[Any, ...]) -> list[Any] | tuple[Any, ...]:
    changed: list[Any] | None = None
    for index, item in enumerate(value):
        kind = item.__class__
        if kind is str or kind is bool or item is None or (kind is int and -_SAFE_INT < item < _SAFE_INT):
            continue
        if kind not in _FIXABLE:
            continue
        fixed = _ready_item(item)
        if fixed is not item:
            if changed is None:
                changed = list(value)
            changed[index] = fixed
    return value if changed is None else changed


# orjson's output differs from JavaScript's only where it holds an integral float ("10.0", "-0.0") or an
# exponent ("1e-6", "1.5e+16"); integers beyond 2**53 make orjson raise (OPT_STRICT_INTEGER). Two regex
# scans of the output cost a fraction of walking the values, so the walk only runs when one matches
# (a string may match too: that only costs the walk).
_INTEGRAL_FLOAT = re.compile(rb"\.0(?=[,}\]]|$)")
_EXPONENT = re.compile(rb"e[-+]\d")


def dumps(value: Any) -> bytes:
    """Serialise `value` (JSON data: dict, list, str, int, float, bool, None) as `JSON.stringify` would."""
    try:
        encoded = orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
    except TypeError:  # an integer beyond 2**53, or a lone surrogate
        pass
    else:
        if _INTEGRAL_FLOAT.search(encoded) is None and _EXPONENT.search(encoded) is None:
            return encoded
    try:
        return orjson.dumps(_js_ready(value))
    except TypeError:
        # orjson refuses lone surrogates, which JavaScript escapes as \udXXX.
        return _slow_dumps(value).encode()


def _slow_quote(text: str) -> str:
    out = ['"']
    for char in text:
        code = ord(char)
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif code < 0x20 or 0xD800 <= code <= 0xDFFF:
            out.append(_SHORT_ESCAPES.get(char) or f"\\u{code:04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _slow_dumps(value: Any) -> str:
    """A plain recursive `JSON.stringify`, used only for strings orjson cannot encode."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return _slow_quote(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and (value != value or math.isinf(value)):
            return "null"
        return js_number_str(value)
    if isinstance(value, dict):
        return "{" + ",".join(_slow_quote(str(k)) + ":" + _slow_dumps(v) for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_slow_dumps(item) for item in value) + "]"
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")
