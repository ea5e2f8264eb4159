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

from gleap_actions.engine.jsvalues import js_number

_SAFE_INT = 2**53
# orjson writes plain decimals for 1e-5 <= |x| < 1e16, exactly like JS, except integral values (`10.0`).
_ORJSON_PLAIN_LOW = 1e-5
_ORJSON_PLAIN_HIGH = 1e16


def js_double_str(value: float | int) -> str:
    """How JavaScript writes a number after JSON.parse: integers beyond 2**53 become the nearest double."""
    if type(value) is int and not -_SAFE_INT < value < _SAFE_INT:
        value = float(value)
    return js_number(value)


def _fix_number(value: float) -> Any:
    """The value orjson must see for `value` to come out as JavaScript writes it."""
    magnitude = abs(value)
    if value.is_integer():
        if magnitude < _SAFE_INT:
            return int(value)  # also turns -0.0 into 0
        return orjson.Fragment(js_double_str(value).encode())
    if _ORJSON_PLAIN_LOW <= magnitude < _ORJSON_PLAIN_HIGH or value != value or math.isinf(value):
        return value
    return orjson.Fragment(js_double_str(value).encode())


def _js_ready(value: Any) -> Any:
    """`value` with every number orjson would write differently replaced; unchanged objects are reused."""
    kind = type(value)
    if kind is dict:
        return _ready_dict(value)
    if kind is list or kind is tuple:
        return _ready_list(value)
    if kind is float:
        return _fix_number(value)
    if kind is int and not -_SAFE_INT < value < _SAFE_INT:
        return orjson.Fragment(js_double_str(value).encode())
    return value


_FIXABLE = frozenset({dict, list, tuple, float, int})


def _ready_item(item: Any) -> Any:
    """The replacement of a container item, or the item itself (dispatch kept flat: this is per value)."""
    kind = type(item)
    if kind is dict:
        return _ready_dict(item)
    if kind is list or kind is tuple:
        return _ready_list(item)
    if kind is float:
        return _fix_number(item)
    return orjson.Fragment(js_double_str(item).encode())  # an int beyond 2**53


def _ready_dict(value: dict[str, Any]) -> dict[str, Any]:
    changed: dict[str, Any] | None = None
    for key, item in value.items():
        kind = type(item)
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
        kind = type(item)
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
# exponent ("1e-6", "1.5e+16"); integers beyond 2**53 make orjson raise (OPT_STRICT_INTEGER). Regex scans
# of the output cost a fraction of walking the values, so the walk only runs when they find a problem that
# the text alone cannot fix (a string may match too: that only costs the walk).
_INTEGRAL_FLOAT = re.compile(rb"\.0(?=[,}\]]|$)")
_EXPONENT = re.compile(rb"e[-+]\d")
# A two-byte literal start is scanned about twice as fast as `e` and a class; `+` is rare in JSON text.
_NEGATIVE_EXPONENT = re.compile(rb"e-\d")


def _has_exponent(encoded: bytes) -> bool:
    """`_EXPONENT.search(encoded) is not None`, cheaper: orjson writes exponents as `1e-7` and `1e+16`."""
    if _NEGATIVE_EXPONENT.search(encoded) is not None:
        return True
    return encoded.find(b"+") >= 0 and _EXPONENT.search(encoded) is not None


def _strip_integral_floats(encoded: bytes) -> bytes | None:
    """orjson's output with each integral float written as JavaScript does, or None when unsure.

    An integral float is common (a price of 10.0) and usually the only difference, so fixing the text
    beats walking every value of a batch. Outside strings, a `.0` before `,`, `}`, `]` or the end is the
    fraction of such a float: dropping it leaves the integer JavaScript writes ("-0" becomes "0"). A match
    inside a string must be left alone: with no backslash in the output every `"` delimits a string, so
    an odd number of them before the match means "inside".
    """
    if encoded.find(b"\\") >= 0:  # not `in`: see `events.within_depth`
        return None
    parts: list[bytes] = []
    last = counted = quotes = 0
    for match in _INTEGRAL_FLOAT.finditer(encoded):
        dot = match.start()
        quotes += encoded.count(b'"', counted, dot)
        counted = dot
        if quotes % 2 == 0:
            if encoded[dot - 2 : dot] == b"-0":
                parts += (encoded[last : dot - 2], b"0")
            else:
                parts.append(encoded[last:dot])
            last = dot + 2
    parts.append(encoded[last:])
    return b"".join(parts)


def dumps(value: Any) -> bytes:
    """Serialise `value` (JSON data: dict, list, str, int, float, bool, None) as `JSON.stringify` would."""
    try:
        encoded = orjson.dumps(value, option=orjson.OPT_STRICT_INTEGER)
    except TypeError:  # an integer beyond 2**53, or a lone surrogate
        pass
    else:
        if not _has_exponent(encoded):
            if _INTEGRAL_FLOAT.search(encoded) is None:
                return encoded
            fixed = _strip_integral_floats(encoded)
            if fixed is not None:
                return fixed
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
        return js_double_str(value)
    if isinstance(value, dict):
        return "{" + ",".join(_slow_quote(str(k)) + ":" + _slow_dumps(v) for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(_slow_dumps(item) for item in value) + "]"
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")
