"""Operations on resolved values that hold `MISSING` (JS `undefined`) the way Segment's do.

While a mapping resolves, object properties and array elements may be `undefined`; they matter to
`@merge` (an undefined property overwrites) and `@flatten`, and are removed at the end: object
keys are deleted, array elements become null (JSON has no `undefined`).
"""

from __future__ import annotations

from typing import Any

from gleap_actions.engine.jsvalues import MISSING


def finalize(value: Any) -> Any:
    """Remove undefined object keys recursively; undefined array elements become None."""
    if type(value) is dict:
        return {key: finalize(item) for key, item in value.items() if item is not MISSING}
    if type(value) is list:
        return [None if item is MISSING else finalize(item) for item in value]
    return value


def remove_undefined(value: Any) -> Any:
    """Segment's `removeUndefined`: delete undefined object keys; array elements stay undefined."""
    if type(value) is dict:
        return {key: remove_undefined(item) for key, item in value.items() if item is not MISSING}
    if type(value) is list:
        return [remove_undefined(item) for item in value]
    return value


def copy_json(value: Any) -> Any:
    """A fresh copy of a constant JSON value, so no two outputs share a mutable container."""
    if type(value) is dict:
        return {key: copy_json(item) for key, item in value.items()}
    if type(value) is list:
        return [copy_json(item) for item in value]
    return value


def assign(target: dict[str, Any], source: Any) -> None:
    """JS `Object.assign(target, source)` for one resolved source (undefined values copy too)."""
    if isinstance(source, dict):
        target.update(source)
    elif isinstance(source, list | str):  # own index properties
        for index, item in enumerate(source):
            target[str(index)] = item


def flatten(value: Any, separator: str, *, omit_arrays: bool) -> dict[str, Any]:
    """Segment's `flattenObject`: leaves under keys joined by `separator`; empty containers vanish.

    A non-container value becomes `{"": value}`; with `omit_arrays` arrays are leaves.
    """
    out: dict[str, Any] = {}

    def walk(item: Any, prefix: str) -> None:
        if isinstance(item, dict):
            for key, child in item.items():
                walk(child, f"{prefix}{separator}{key}" if prefix else str(key))
        elif isinstance(item, list) and not omit_arrays:
            for index, child in enumerate(item):
                walk(child, f"{prefix}{separator}{index}" if prefix else str(index))
        else:
            out[prefix] = item

    walk(value, "")
    return out


def exclude_nulls(value: Any, *, final: bool) -> Any:
    """`@excludeWhenNull` on a resolved value: null becomes undefined, also inside nested objects.

    Arrays are not entered. With `final`, undefined keys are dropped at once instead of kept.
    """
    if value is None:
        return MISSING
    if not isinstance(value, dict):
        return value
    out: dict[str, Any] = {}
    for key, item in value.items():
        if item is None:
            if not final:
                out[key] = MISSING
        elif isinstance(item, dict):
            out[key] = exclude_nulls(item, final=final)
        else:
            out[key] = item
    return out
