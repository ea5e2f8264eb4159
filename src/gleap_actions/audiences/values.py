"""How values from events and traits compare: coercions shared by comparators and reducers.

A missing value (absent or null) makes every comparator false except `absent()`; `NOT` turns that around.
An unquoted date in the definition compares as an instant. Numbers compare as numbers when both sides are
numbers or numeric strings and at least one is a number (`'5'` equals 5); otherwise values compare by their
text (`'true'` equals true).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import orjson

from gleap_actions.engine.datetimes import InvalidDatetime, parse_datetime

Number = int | float
_NUMERIC = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ISO_FAST = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)?", re.ASCII)


class DateText(str):
    """An unquoted date or timestamp of the definition (`2023-12-07`): compared with values as instants."""

    __slots__ = ()


_NUMBERS = (int, float)


def is_number(value: object) -> bool:
    """A JSON number (booleans are not numbers)."""
    kind = type(value)
    if kind is int:  # the common cases first: this runs for every value a reducer reads
        return True
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    return isinstance(value, _NUMBERS) and not isinstance(value, bool) and math.isfinite(value)


def to_number(value: object) -> Number | None:
    """A number, or a string holding one; None otherwise."""
    if is_number(value):
        return value  # type: ignore[return-value]
    if isinstance(value, str) and _NUMERIC.fullmatch(value):
        number = float(value)
        return (
            int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        )
    return None


def to_text(value: object) -> str | None:
    """The text a value compares as: strings as written, `true`/`false`, `5` for 5.0, arrays as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:
        return str(value)


@lru_cache(maxsize=4096)
def _instant_of_text(text: str) -> int | None:
    try:
        # The form Segment's libraries send is read at C speed; the strict parser explains the rest.
        moment = datetime.fromisoformat(text) if _ISO_FAST.fullmatch(text) else parse_datetime(text)
    except (InvalidDatetime, ValueError):
        return None
    return to_micros(moment)


def to_instant(value: object) -> int | None:
    """A date/time value (ISO 8601, RFC 2822, Unix seconds or milliseconds) as microseconds since 1970."""
    if isinstance(value, str):
        return _instant_of_text(value)
    if is_number(value):
        try:
            return to_micros(parse_datetime(value))
        except (InvalidDatetime, OverflowError):
            return None
    return None


def to_micros(moment: datetime) -> int:
    """An aware datetime as whole microseconds since 1970-01-01 UTC (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


def equals(left: object, right: object) -> bool:
    """Equality with the coercions above; False when either side is missing."""
    if left is None or right is None:
        return False
    if isinstance(left, DateText) or isinstance(right, DateText):
        instant = to_instant(left)
        return instant is not None and instant == to_instant(right)
    if is_number(left) or is_number(right):
        a, b = to_number(left), to_number(right)
        if a is not None and b is not None:
            return a == b
    return to_text(left) == to_text(right)


def order(left: object, right: object) -> int | None:
    """-1, 0 or 1: numbers as numbers, dates as instants, two strings as text; None: no order."""
    if isinstance(left, DateText) or isinstance(right, DateText):
        x, y = to_instant(left), to_instant(right)
        return None if x is None or y is None else (x > y) - (x < y)
    a, b = to_number(left), to_number(right)
    if a is not None and b is not None:
        return (a > b) - (a < b)
    if isinstance(left, str) and isinstance(right, str):
        return (left > right) - (left < right)
    return None


def get_path(value: object, path: tuple[str, ...]) -> object:
    """The value at `path` inside nested objects; None when any step is missing."""
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value
