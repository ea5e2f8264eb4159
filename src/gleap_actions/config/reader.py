"""Typed reading of one mapping of the config: each getter checks a key and records what is wrong.

A getter that finds a problem records it and returns the default, so reading goes on and every problem of
the file is reported at once. `finish()` reports keys nobody asked for (typos) with a suggestion.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

from gleap_actions.config.durations import parse_duration
from gleap_actions.config.problems import Problems, describe, join

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_Number = TypeVar("_Number", int, float)


def _is_http_url(text: str) -> bool:
    """An absolute http(s) URL with a host and, if any, a valid port."""
    try:
        parts = urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not a number in 0-65535
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


class Section:
    """The keys of one YAML mapping at `location` (an absent or null section reads as empty)."""

    def __init__(self, value: Any, location: str, problems: Problems) -> None:
        self.location = location
        self.problems = problems
        self._read: set[str] = set()
        if value is None:
            value = {}
        if not isinstance(value, dict):
            problems.add(location, f"expected a mapping, got {describe(value)}")
            value = {}
        self._data: Mapping[Any, Any] = value

    def has(self, key: str) -> bool:
        """Whether `key` is present with a non-null value."""
        return self._data.get(key) is not None

    def raw(self, key: str) -> Any:
        """The value at `key` as written (None when absent), marking it read."""
        self._read.add(key)
        return self._data.get(key)

    def at(self, key: str) -> str:
        """The location of `key`."""
        return join(self.location, key)

    def section(self, key: str) -> Section:
        """The nested mapping at `key`."""
        return Section(self.raw(key), self.at(key), self.problems)

    def string(self, key: str, default: str | None, *, secret: bool = False) -> str | None:
        """A string; an empty one reads as absent (an unset `${VAR}`)."""
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            got = (
                "a boolean"
                if secret
                else f"{describe(value)}; quote it, YAML reads yes/no/on/off as booleans"
            )
            self.problems.add(self.at(key), f"expected a string, got {got}")
            return default
        if isinstance(value, int | float) and not secret:
            value = str(value)
        if not isinstance(value, str):
            self.problems.add(self.at(key), f"expected a string, got {describe(value, secret=secret)}")
            return default
        return value.strip() or default

    def url(self, key: str, default: str | None, *, secret: bool = False) -> str | None:
        """An absolute http(s) URL without a trailing slash."""
        if self.raw(key) is None:
            return default
        value = self.string(key, None, secret=secret)
        if value is None:
            return default
        if not _is_http_url(value):
            shown = "" if secret else f", got {describe(self.raw(key))}"
            self.problems.add(self.at(key), f"expected an http:// or https:// URL{shown}")
            return default
        return value.rstrip("/")

    def string_list(self, key: str, *, secret: bool = False) -> tuple[str, ...]:
        """A list of non-empty strings (empty entries, e.g. unset `${VAR}`s, are dropped)."""
        value = self.raw(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.problems.add(
                self.at(key), f"expected a list of strings, got {describe(value, secret=secret)}"
            )
            return ()
        items: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str):
                problem = f"expected a string, got {describe(item, secret=secret)}"
                self.problems.add(join(self.at(key), index), problem)
            elif item.strip():
                items.append(item.strip())
        return tuple(items)

    def boolean(self, key: str, default: bool) -> bool:
        """true/false (also the strings true, false, yes, no, on, off, 1, 0 from the environment)."""
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            if text in ("true", "yes", "on", "1"):
                return True
            if text in ("false", "no", "off", "0"):
                return False
            if not text:
                return default
        self.problems.add(self.at(key), f"expected true or false, got {describe(value)}")
        return default

    def integer(self, key: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        """An integer within [minimum, maximum]."""
        value = self.raw(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return default
        if isinstance(value, str) and _INTEGER.fullmatch(value):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problems.add(self.at(key), f"expected an integer, got {describe(value)}")
            return default
        return self._in_range(key, value, default, minimum, maximum)

    def duration(self, key: str, default: float, *, minimum: float = 0.0, positive: bool = False) -> float:
        """Seconds, written as a number or as `200ms`, `30s`, `5m`, `4h`, `7d`, `1h30m`."""
        value = self.raw(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            return default
        seconds: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            seconds = float(value)
        elif isinstance(value, str):
            seconds = parse_duration(value)
        if seconds is None:
            self.problems.add(
                self.at(key),
                f"expected a duration such as 30s, 5m, 4h, 7d or a number of seconds, got {describe(value)}",
            )
            return default
        if positive and seconds <= 0:
            self.problems.add(self.at(key), f"must be greater than 0, got {describe(value)}")
            return default
        return self._in_range(key, seconds, default, minimum, None)

    def _in_range(
        self, key: str, value: _Number, default: _Number, minimum: _Number, maximum: _Number | None
    ) -> _Number:
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"at least {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            self.problems.add(self.at(key), f"must be {bounds}, got {value}")
            return default
        return value

    def finish(self) -> None:
        """Report every key that no getter read, with the closest known key as a suggestion."""
        for key in self._data:
            if key in self._read:
                continue
            if not isinstance(key, str):
                self.problems.add(self.location, f"keys must be strings, got {describe(key)}")
                continue
            close = difflib.get_close_matches(key, sorted(self._read), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "known keys: " + ", ".join(sorted(self._read))
            self.problems.add(join(self.location, key), f"unknown key ({hint})")
