"""Path lookup (`$.a.b[0].c`), Segment's `get`: parsed once into segments, walked per event.

Splitting: on every `.`, on `[` followed by a quote or digit, on a run of `]` preceded by a quote or
digit; empty segments are dropped, then every quote character is deleted. So `a.b[0].c`, `a.b.0.c`,
`['a'].b` and `a.Actions Amplitude.x` work, while `a[b]` is the single key `"a[b]"`.

Walking: a falsy intermediate (JS rules) stops the walk and *is* the result (`{a: null}` + `a.b`
gives null, not missing). Objects are indexed by key, arrays by canonical decimal index or `length`.
Strings are leaves (deliberately: no JS character indexing or `.length`, docs/compatibility/mapping.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from gleap_actions.engine.jsvalues import MISSING, is_truthy

Getter = Callable[[Any], Any]

_SPLIT = re.compile(r"\.|\[(?=['\"0-9])|(?<=['\"0-9])\]+")
_QUOTES = str.maketrans("", "", "'\"")


@lru_cache(maxsize=4096)
def parse_path(path: str) -> tuple[str, ...] | None:
    """Segments of a path string, or None for the root (`""` or `"."`)."""
    if path in ("", "."):
        return None
    return tuple(part.translate(_QUOTES) for part in _SPLIT.split(path) if part)


def strip_dollar(path: str) -> str:
    """`@path`/`@arrayPath` remove the first occurrence of `$.` anywhere in the path (Segment)."""
    return path.replace("$.", "", 1)


def _index(current: Any, key: str) -> Any:
    """One step from a truthy, non-dict value."""
    if isinstance(current, dict):
        return current.get(key, MISSING)
    if isinstance(current, list):
        if key == "length":
            return len(current)
        # JS arrays only answer canonical indices: "01" and "-1" are absent
        if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0"):
            position = int(key)
            return current[position] if position < len(current) else MISSING
    return MISSING


def get(payload: Any, segments: tuple[str, ...] | None) -> Any:
    """The value at `segments` in `payload` with Segment's falsy short-circuit; MISSING if absent."""
    if segments is None:
        return payload
    current = payload
    for key in segments:
        if type(current) is dict:
            current = current.get(key, MISSING)
        elif not is_truthy(current):
            return current
        else:
            current = _index(current, key)
    return current


def compile_getter(segments: tuple[str, ...] | None) -> Getter:
    """A function `payload -> value` for a parsed path, specialised for the common short paths."""
    if segments is None:
        return _identity
    if len(segments) == 1:
        (first,) = segments

        def get1(payload: Any) -> Any:
            if type(payload) is dict:
                return payload.get(first, MISSING)
            return get(payload, segments)

        return get1
    if len(segments) == 2:
        first, second = segments

        def get2(payload: Any) -> Any:
            if type(payload) is dict:
                inner = payload.get(first, MISSING)
                if type(inner) is dict:
                    return inner.get(second, MISSING)
            return get(payload, segments)

        return get2

    def getn(payload: Any) -> Any:
        return get(payload, segments)

    return getn


def _identity(payload: Any) -> Any:
    return payload
