"""Literal values of FQL: number parsing and the text form Segment gives numbers (JavaScript `String(n)`)."""

from __future__ import annotations

import math
import re
from decimal import Decimal

Number = int | float

# A quoted number accepted where a comparison needs one (`properties.total > "100"`), as JavaScript's
# `Number()` reads it in Segment; hexadecimal, "Infinity" and the empty string are not accepted.
_NUMERIC_STRING = re.compile(r"\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*")


# Integers beyond a double's range (about 1.8e308) are "Infinity" in JavaScript; refusing them also keeps
# Python's int() away from its digit limit.
_MAX_INTEGER_DIGITS = 308

# Integers a double holds exactly; JavaScript reads larger ones as the nearest double.
_EXACT = 2**53


def parse_number_literal(literal: str) -> Number | None:
    """A lexed number literal as int (no fraction or exponent) or float; None if it is not finite."""
    if "." not in literal and "e" not in literal and "E" not in literal:
        return int(literal) if len(literal.lstrip("+-")) <= _MAX_INTEGER_DIGITS else None
    value = float(literal)
    return value if math.isfinite(value) else None


def parse_numeric_string(text: str) -> Number | None:
    """The number a quoted string denotes (`" 100 "` -> 100), or None if it is not a finite number."""
    found = _NUMERIC_STRING.fullmatch(text)
    if found is None:
        return None
    value = float(found.group(1))
    if not math.isfinite(value):
        return None
    return int(value) if value.is_integer() and abs(value) < _EXACT else value


def number_text(value: Number) -> str:
    """JavaScript's `String(value)`: `5.0` -> "5", `1e21` -> "1e+21", `0.000001` -> "0.000001"."""
    if isinstance(value, int) and abs(value) < 10**21:
        return str(value)  # every digit, as mappings print integers (docs/compatibility/mapping.md)
    number = float(value)
    if number.is_integer() and abs(number) < _EXACT:
        return str(int(number))
    # Beyond 2**53 a whole float's exact value has more digits than JavaScript's shortest form prints.
    sign, digits_tuple, exponent = Decimal(repr(number)).normalize().as_tuple()
    assert isinstance(exponent, int)  # finite: literals are checked when lexed
    digits = "".join(map(str, digits_tuple))
    point = len(digits) + exponent  # value = 0.<digits> * 10**point
    if 0 < point <= 21:
        text = (
            digits[:point] + "." + digits[point:]
            if point < len(digits)
            else digits + "0" * (point - len(digits))
        )
    elif -6 < point <= 0:
        text = "0." + "0" * -point + digits
    else:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        text = f"{mantissa}e{'+' if point - 1 >= 0 else '-'}{abs(point - 1)}"
    return ("-" if sign else "") + text


def describe_char(ch: str) -> str:
    """How an error message names one character of the trigger."""
    return repr(ch) if ch.isprintable() else f"character U+{ord(ch):04X}"
