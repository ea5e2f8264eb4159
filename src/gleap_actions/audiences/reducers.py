"""Reducers: a filtered stream of events to one value (`count`, `sum`, `avg`, `min`/`max`, `mode`, `first`,
`last`) or to a list (`unique`).

Over no events (or no usable values): `count()` and `sum()` give 0, `unique()` an empty list, the others
None (no value). Values that are missing or null are skipped. `sum`, `avg` and `min`/`max as number` use
numbers and numeric strings and skip the rest; `as string` compares text. `mode` keeps values seen at least
`min_count` times and breaks ties alphabetically; `unique` is sorted alphabetically; both count each element
of an array separately, except `mode(... as array)`, which counts a whole array as one value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gleap_actions.audiences.nodes import Reduce
from gleap_actions.audiences.values import Number, to_number, to_text


def reducer(node: Reduce) -> Callable[[Iterable[object]], object]:
    """The function from the argument's values (one per event, in time order) to the reduced value."""
    of_numbers = numeric(node)
    if of_numbers is not None:
        return lambda values: of_numbers(numbers(values))
    name = node.reducer
    if name in ("min", "max"):  # as string
        pick = min if name == "min" else max
        return lambda values: _pick_text(values, pick)
    if name == "mode":
        return lambda values: _mode(values, node.as_type or "string", node.min_count)
    if name == "first":
        return _first
    if name == "last":
        return lambda values: _first(reversed(list(values)))
    if node.then_count:
        return lambda values: len(_unique(values))
    return _unique


def numeric(node: Reduce) -> Callable[[list[Number]], object] | None:
    """For the reducers that read numbers only (`sum`, `avg`, `min`/`max` as number): the function from
    the argument's `numbers` to the reduced value; None for the others."""
    name = node.reducer
    if name == "sum":
        return sum
    if name == "avg":
        return _avg
    if name in ("min", "max") and node.as_type != "string":
        pick = min if name == "min" else max
        return lambda numbers: pick(numbers) if numbers else None
    return None


def numbers(values: Iterable[object]) -> list[Number]:
    """The values that are numbers or numeric strings, as numbers (the others skipped)."""
    return [n for value in values if value is not None and (n := to_number(value)) is not None]


def _avg(numbers: list[Number]) -> float | None:
    return sum(numbers) / len(numbers) if numbers else None


def _pick_text(values: Iterable[object], pick: Callable[[list[str]], str]) -> str | None:
    texts = [t for value in values if (t := to_text(value)) is not None]
    return pick(texts) if texts else None


def _elements(values: Iterable[object]) -> Iterable[object]:
    for value in values:
        if isinstance(value, list):
            yield from (item for item in value if item is not None)
        elif value is not None:
            yield value


def _mode(values: Iterable[object], as_type: str, min_count: int) -> object:
    counts: dict[object, int] = {}
    if as_type == "number":
        keys: Iterable[object] = numbers(_elements(values))
    elif as_type == "array":
        keys = (to_text(value) for value in values if value is not None)
    else:
        keys = (to_text(value) for value in _elements(values))
    for key in keys:
        counts[key] = counts.get(key, 0) + 1
    frequent = [(count, key) for key, count in counts.items() if count >= min_count]
    if not frequent:
        return None
    best = max(count for count, _ in frequent)
    return min((key for count, key in frequent if count == best), key=lambda k: to_text(k) or "")


def _first(values: Iterable[object]) -> object:
    return next((value for value in values if value is not None), None)


def _unique(values: Iterable[object]) -> list[object]:
    seen: dict[str, object] = {}
    for value in _elements(values):
        text = to_text(value)
        if text is not None and text not in seen:
            seen[text] = value
    return [seen[text] for text in sorted(seen)]
