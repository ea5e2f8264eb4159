"""Compiles an FQL syntax tree into one predicate closure: all decisions are taken here, once.

Segment's semantics (reference section 2.5), per value kind:
* strings: `=` is strict equality (a number 123 never equals "123"); `!=` is its negation, so a missing
  field is "not equal".
* numbers: `=`, `!=` and the order operators need the field to be a number (a missing field matches neither
  `= 5` nor `!= 5`). On `type`, `event`, `name` and `userId` Segment compares `=`/`!=` with the text of the
  number instead (`userId = 123` matches "123"); so do we.
* `true`/`false`: the field must be that boolean (`!=`: must not be). On `type`, `event` and `name` Segment
  compares with the text "true"/"false"; so do we.
* `null`: `= null` holds for a missing or null field, `!= null` for any other value.
* `contains`, `match` and their negations need a string field (else both forms are false).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

from gleap_actions.engine.fql.nodes import And, Comparison, Function, Node, Not, Or, Path, Value
from gleap_actions.engine.fql.values import number_text

Event = dict[str, Any]
Predicate = Callable[[Event], bool]
Getter = Callable[[Event], Any]

# Top-level fields Segment compares as text when given a number (and, but for userId, a boolean).
_TEXT_FIELDS = frozenset({"type", "event", "name", "userId"})
_BOOLEAN_TEXT_FIELDS = frozenset({"type", "event", "name"})
_NUMBER_TYPES = (int, float)  # exact types: a JSON boolean is not a number
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


def compile_tree(node: Node) -> Predicate:
    """The predicate for a syntax tree. It takes an event dict and returns a bool; it never raises."""
    if isinstance(node, Comparison):
        return _comparison(node)
    if isinstance(node, Function):
        return _function(node)
    if isinstance(node, Not):
        child = compile_tree(node.child)
        return lambda event: not child(event)
    if isinstance(node, And):
        return _all([compile_tree(c) for c in node.children])
    return _any_of(node)


def getter(path: Path) -> Getter:
    """Reads a path from an event: keys of objects, canonical indexes of arrays; None when absent.

    Absent and null are the same to every operator, so both are None. Unlike Segment, a falsy
    intermediate value is not returned as the result, and strings are not indexed like JS objects.
    """
    steps = tuple((key, _index(key)) for key in path)
    if len(steps) == 1:
        key = path[0]
        return lambda event: event.get(key)

    def get(event: Event) -> Any:
        current: Any = event
        for key, index in steps:
            if isinstance(current, dict):
                current = current.get(key)
            elif isinstance(current, list) and index is not None and index < len(current):
                current = current[index]
            else:
                return None
        return current

    return get


def _index(key: str) -> int | None:
    """The array index a key denotes: "0", "12"; not "01", "-1" or "+1" (JavaScript's rule)."""
    if key.isascii() and key.isdigit() and (key == "0" or key[0] != "0"):
        return int(key)
    return None


def _comparison(node: Comparison) -> Predicate:
    get = getter(node.path)
    value: Value = node.value
    field = node.path[0] if len(node.path) == 1 else None
    if node.operator in _ORDER:
        compare, bound = _ORDER[node.operator], value
        return lambda event: type(x := get(event)) in _NUMBER_TYPES and compare(x, bound)
    equal = node.operator == "="
    if value is None:
        if equal:
            return lambda event: get(event) is None
        return lambda event: get(event) is not None
    if isinstance(value, bool):
        if field in _BOOLEAN_TEXT_FIELDS:
            return _text_comparison(get, equal, "true" if value else "false")
        flag = value
        if equal:
            return lambda event: get(event) is flag
        return lambda event: get(event) is not flag
    if isinstance(value, int | float):
        if field in _TEXT_FIELDS:
            return _text_comparison(get, equal, number_text(value))
        number = value
        if equal:
            return lambda event: type(x := get(event)) in _NUMBER_TYPES and x == number
        return lambda event: type(x := get(event)) in _NUMBER_TYPES and x != number
    return _text_comparison(get, equal, value)


def _text_comparison(get: Getter, equal: bool, text: str) -> Predicate:
    """Strict equality with a string (JSON values of other types never equal a string)."""
    if equal:
        return lambda event: get(event) == text
    return lambda event: get(event) != text


def _function(node: Function) -> Predicate:
    get = getter(node.path)
    test = _contains(node.argument) if node.name == "contains" else glob(node.argument)
    if node.negated:
        return lambda event: isinstance(x := get(event), str) and not test(x)
    return lambda event: isinstance(x := get(event), str) and test(x)


def _contains(needle: str) -> Callable[[str], bool]:
    return lambda text: needle in text


def glob(pattern: str) -> Callable[[str], bool]:
    """A test for a `match()` pattern: `*` stands for any run of characters, everything else is literal.

    Linear-time (leftmost search of each literal run), so no pattern can make matching slow.
    """
    if "*" not in pattern:
        return lambda text: text == pattern
    prefix, *middles, suffix = pattern.split("*")
    middles = [m for m in middles if m]
    shortest = len(prefix) + len(suffix) + sum(map(len, middles))
    if not middles:
        return lambda text: len(text) >= shortest and text.startswith(prefix) and text.endswith(suffix)

    def test(text: str) -> bool:
        if len(text) < shortest or not text.startswith(prefix) or not text.endswith(suffix):
            return False
        position, end = len(prefix), len(text) - len(suffix)
        for middle in middles:
            found = text.find(middle, position, end)
            if found < 0:
                return False
            position = found + len(middle)
        return True

    return test


def _all(children: list[Predicate]) -> Predicate:
    if len(children) == 2:
        first, second = children
        return lambda event: first(event) and second(event)
    members = tuple(children)
    return lambda event: all(child(event) for child in members)


def _any_of(node: Or) -> Predicate:
    """`or`, with a fast path for the common `type = "track" or type = "page" or ...` (one set lookup)."""
    same_field: dict[Path, set[str]] = {}
    others: list[Predicate] = []
    for child in node.children:
        if isinstance(child, Comparison) and child.operator == "=" and isinstance(child.value, str):
            same_field.setdefault(child.path, set()).add(child.value)
        else:
            others.append(compile_tree(child))
    for path, values in same_field.items():
        others.append(_one_of(path, frozenset(values)))
    if len(others) == 1:
        return others[0]
    if len(others) == 2:
        first, second = others
        return lambda event: first(event) or second(event)
    members = tuple(others)
    return lambda event: any(child(event) for child in members)


def _one_of(path: Path, values: frozenset[str]) -> Predicate:
    get = getter(path)
    if len(values) == 1:
        (only,) = values
        return lambda event: get(event) == only
    if len(path) == 1:  # `type = "track" or type = "page" ...`: the getter inlined, this runs per event
        key = path[0]
        return lambda event: isinstance(x := event.get(key), str) and x in values
    return lambda event: isinstance(x := get(event), str) and x in values
