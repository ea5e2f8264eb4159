"""String formats of field definitions (ajv-formats "full" mode) and their names in error messages."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from datetime import date

# ajv-formats' email pattern, which is case-insensitive: its letters spelled out instead of `re.IGNORECASE`
# (which folds the case of every character it reads: about a third of the time). Under Unicode case
# folding `[a-z]` also matches İ, ı, ſ and the Kelvin sign K; they are listed so that the set is the same.
_LETTER = "a-zA-Z\u0130\u0131\u017f\u212a"
_EMAIL = re.compile(
    rf"[{_LETTER}0-9!#$%&'*+/=?^_`{{|}}~-]+(?:\.[{_LETTER}0-9!#$%&'*+/=?^_`{{|}}~-]+)*"
    rf"@(?:[{_LETTER}0-9](?:[{_LETTER}0-9-]*[{_LETTER}0-9])?\.)+[{_LETTER}0-9](?:[{_LETTER}0-9-]*[{_LETTER}0-9])?"
)
# RFC 3986, ASCII only: unreserved, sub-delims, ":", "@", "/", "?", "#", "[", "]" and percent-escapes.
_URI_CHARS = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?#\[\]]|%[0-9A-Fa-f]{2})"
_URI = re.compile(rf"[A-Za-z][A-Za-z0-9+.\-]*:{_URI_CHARS}*")
_URI_REFERENCE = re.compile(rf"{_URI_CHARS}*")
_DATE = re.compile(r"(\d{4})-(\d\d)-(\d\d)")
_TIME = re.compile(r"(\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:z|[+-]\d\d(?::?\d\d)?)?", re.IGNORECASE)
_DATE_TIME_SEPARATOR = re.compile(r"t|\s", re.IGNORECASE)
_UUID = re.compile(r"(?:urn:uuid:)?[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}", re.IGNORECASE)
_HOSTNAME = re.compile(
    r"(?=.{1,253}\.?$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[-0-9a-z]{0,61}[0-9a-z])?)*\.?",
    re.IGNORECASE,
)


def _is_date(text: str) -> bool:
    match = _DATE.fullmatch(text)
    if not match:
        return False
    try:
        date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return False
    return True


def _is_time(text: str) -> bool:
    match = _TIME.fullmatch(text)
    if not match:
        return False
    hour, minute, second = (int(part) for part in match.groups())
    return (hour <= 23 and minute <= 59 and second <= 59) or (hour == 23 and minute == 59 and second == 60)


def _is_date_time(text: str) -> bool:
    parts = _DATE_TIME_SEPARATOR.split(text, maxsplit=1)
    return len(parts) == 2 and _is_date(parts[0]) and _is_time(parts[1])


def _is_ip(version: int) -> Callable[[str], bool]:
    def check(text: str) -> bool:
        try:
            return ipaddress.ip_address(text).version == version
        except ValueError:
            return False

    return check


def _is_regex(text: str) -> bool:
    try:
        re.compile(text)
    except re.error:
        return False
    return True


def _always(_: str) -> bool:
    return True


FORMATS: dict[str, Callable[[str], bool]] = {
    "email": lambda text: _EMAIL.fullmatch(text) is not None,
    # ajv-formats also requires a "/" or ":" (NOT_URI_FRAGMENT); the scheme guarantees the ":".
    "uri": lambda text: _URI.fullmatch(text) is not None,
    "uri-reference": lambda text: _URI_REFERENCE.fullmatch(text) is not None,
    "date": _is_date,
    "time": _is_time,
    "date-time": _is_date_time,
    "uuid": lambda text: _UUID.fullmatch(text) is not None,
    "hostname": lambda text: _HOSTNAME.fullmatch(text) is not None,
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "regex": _is_regex,
    "text": _always,
    "password": _always,
}
"""Format name -> check of a string value."""

FORMAT_LABELS = {
    "date-time": "date and time",
    "time": "time",
    "date": "date",
    "email": "email address",
    "hostname": "hostname",
    "ipv4": "IPv4 address",
    "ipv6": "IPv6 address",
    "uri": "URI",
    "uri-reference": "URI Reference",
    "regex": "regular expression",
}
"""How ajv-human-errors names a format in `... must be a valid <label> string but it was not.`"""
