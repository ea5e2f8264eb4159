"""Strict datetime parsing and the one output format Gleap documents: ISO 8601 UTC with milliseconds.

Segment accepts whatever V8's lenient `Date` parser accepts ("abc 2024", "12", "2024-02-30") and forwards the
value unchanged. We accept only unambiguous forms and send `2024-01-02T03:04:05.000Z`:

* ISO 8601 / RFC 3339: `2024-01-02`, `2024-01-02T03:04`, `2024-01-02T03:04:05.123456+02:00`, `...Z`, a space
  instead of `T`, offsets as `+02`, `+0200` or `+02:00`. A time without an offset is UTC.
* RFC 2822: `Tue, 02 Jan 2024 03:04:05 GMT` (day name optional, seconds optional, zone as `GMT`, `UT`,
  `Z`, a US zone name or `+0200`).
* Unix time as a JSON number or a string of at least 9 digits: seconds, or milliseconds when the magnitude is
  at least 1e11 (1e11 seconds would be the year 5138; 1e11 milliseconds is 1973).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_MS_THRESHOLD = 1e11
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# The form Segment's libraries send (`2024-01-02T03:04:05.000Z`): already canonical when valid, so it is
# returned as is. Its punctuation, at every third place from the fifth (`-`, `-`, `T`, `:`, `:`, `.`).
_CANONICAL_LENGTH = 24
_CANONICAL_MARKS = "--T::."
_ISO = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)"
    r"(?:[Tt ](\d\d):(\d\d)(?::(\d\d)(?:[.,](\d+))?)?"
    r"\s?([Zz]|[+-]\d\d(?::?\d\d)?)?)?"
)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), start=1
    )
}
_RFC2822 = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun),\s*)?(\d{1,2})\s+([a-z]{3})\s+(\d{4})\s+"
    r"(\d\d):(\d\d)(?::(\d\d))?\s+(gmt|ut|utc|z|[ecmp][sd]t|[+-]\d{4})",
    re.IGNORECASE,
)
_US_ZONES = {"est": -5, "edt": -4, "cst": -6, "cdt": -5, "mst": -7, "mdt": -6, "pst": -8, "pdt": -7}
_DIGITS = re.compile(r"-?\d{9,}")


class InvalidDatetime(ValueError):
    """The value is not a date and time in an accepted form."""


def format_iso(moment: datetime) -> str:
    """`moment` as ISO 8601 UTC with milliseconds (`2024-01-02T03:04:05.000Z`)."""
    utc = moment.astimezone(UTC)
    return (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
        f".{utc.microsecond // 1000:03d}Z"
    )


def from_unix(number: float) -> datetime:
    """A Unix timestamp in seconds, or milliseconds when |number| >= 1e11, as an aware UTC datetime."""
    if number != number or number in (float("inf"), float("-inf")):
        raise InvalidDatetime("not a finite number")
    millis = number if abs(number) >= _MS_THRESHOLD else number * 1000
    try:
        return _EPOCH + timedelta(milliseconds=int(millis))
    except OverflowError:
        raise InvalidDatetime("out of range") from None


def _offset(text: str | None) -> timezone:
    if text is None or text in ("Z", "z"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:] or 0)
    if hours > 23 or minutes > 59:
        raise InvalidDatetime("the UTC offset is out of range")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _parse_iso(match: re.Match[str]) -> datetime:
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    return datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        micros,
        tzinfo=_offset(zone),
    )


def _parse_rfc2822(match: re.Match[str]) -> datetime:
    day, month_name, year, hour, minute, second, zone = match.groups()
    month = _MONTHS.get(month_name.lower())
    if month is None:
        raise InvalidDatetime(f"unknown month {month_name!r}")
    zone_lower = zone.lower()
    if zone_lower in _US_ZONES:
        tz = timezone(timedelta(hours=_US_ZONES[zone_lower]))
    elif zone_lower in ("gmt", "ut", "utc", "z"):
        tz = UTC
    else:
        tz = _offset(zone[:3] + ":" + zone[3:])
    return datetime(int(year), month, int(day), int(hour), int(minute), int(second or 0), tzinfo=tz)


def parse_datetime(value: object) -> datetime:
    """Parse an accepted datetime (see the module docstring) into an aware datetime, else InvalidDatetime."""
    if isinstance(value, bool):
        raise InvalidDatetime("a boolean is not a date")
    if isinstance(value, int | float):
        return from_unix(value)
    if not isinstance(value, str):
        raise InvalidDatetime("not a string or number")
    text = value.strip()
    try:
        if match := _ISO.fullmatch(text):
            return _parse_iso(match)
        if _DIGITS.fullmatch(text):
            return from_unix(int(text))
        if match := _RFC2822.fullmatch(text):
            return _parse_rfc2822(match)
    except ValueError as error:  # datetime() rejects 2024-02-30, hour 25, ...
        raise InvalidDatetime(str(error)) from None
    raise InvalidDatetime("unrecognised date format")


def canonical_datetime(text: str) -> str | None:
    """`text` when it is already in the output form and a real date (the common, cheap case), else None.

    The output form is `YYYY-MM-DDTHH:MM:SS.mmmZ` in ASCII digits. Its length, punctuation and `Z` are
    checked here; given those, `fromisoformat` accepts only an ASCII digit in each other place, and checks
    the calendar: a third of the time of a regular expression. An impossible date is explained by the
    parser.
    """
    if len(text) != _CANONICAL_LENGTH or text[4:20:3] != _CANONICAL_MARKS or text[23] != "Z":
        return None
    if not text.isascii():
        return None
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return None
    return text


def normalize_datetime(value: object) -> str:
    """An accepted datetime as ISO 8601 UTC with milliseconds; raises `InvalidDatetime` otherwise."""
    if type(value) is str and canonical_datetime(value) is not None:
        return value
    moment = parse_datetime(value)
    try:
        return format_iso(moment)
    except (OverflowError, ValueError):
        raise InvalidDatetime("out of range") from None
