"""The compiler: a syntax tree to nested closures, built once per definition and called per evaluation.

Every closure takes `(run, current, parent)`: the evaluation (`Run`: the profile at an instant), the event a
`where()` or a reducer is looking at, and the event of the enclosing `where()` (for `parent:`).

Time (all in microseconds; each window is closed at its newer end and open at its older end, so that every
change happens at an instant):
* `within(d)` keeps events with `now - d < ts <= now`; `between(s, e)` those with `now - e < ts <= now - s`.
* `within(parent: d)` keeps events with `parent.ts <= ts < parent.ts + d`, other than the parent itself.
* `expires_after(d)` keeps the current session: the newest run of events less than `d` apart, provided the
  newest is less than `d` old; otherwise nothing.
* `within_last(d)`: `now - d < v <= now`; `within_next(d)`: `now < v <= now + d`; `before_last(d)`:
  `v <= now - d`; `after_next(d)`: `v > now + d`.

Definitions evaluated over one profile share work: a chain with filters, or the numbers of a property
over a chain, that reads no trait and is not nested in an event, is computed once per profile and
instant for all of them (`Run.shared`, keyed by the expression without its columns).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any, TypeVar

from gleap_actions.audiences.folds import foldable, folded
from gleap_actions.audiences.nodes import (
    And,
    Comparison,
    Condition,
    ContextRef,
    EventChain,
    ExpiresAfter,
    Filter,
    Literal,
    Node,
    Not,
    Or,
    PropertyRef,
    Reduce,
    Sources,
    TraitRef,
    Where,
)
from gleap_actions.audiences.profile import ProfileEvent, Run
from gleap_actions.audiences.reducers import numbers, numeric, reducer
from gleap_actions.audiences.values import equals, get_path, order, to_instant, to_number, to_text

T = TypeVar("T")
Event = ProfileEvent | None
Fn = Callable[[Run, Event, Event], Any]
Stream = Callable[[Run, Event], list[ProfileEvent]]
StreamFilter = Callable[[Run, list[ProfileEvent], Event], list[ProfileEvent]]
# Fields of the event itself that `context()` falls back to (e.g. `context('timestamp')`).
_TOP_LEVEL = frozenset(
    {"timestamp", "originalTimestamp", "receivedAt", "sentAt", "messageId", "type", "event", "name"}
)


def compile_node(node: Node) -> Fn:
    """The closure computing `node`."""
    if isinstance(node, Comparison | Not | And | Or):
        return _condition(node)
    return _value(node)


def _condition(node: Condition) -> Fn:
    if isinstance(node, Not):
        item = _condition(node.item)
        return lambda run, current, parent: not item(run, current, parent)
    if isinstance(node, And):
        items = [_condition(i) for i in node.items]
        return lambda run, current, parent: all(i(run, current, parent) for i in items)
    if isinstance(node, Or):
        items = [_condition(i) for i in node.items]
        return lambda run, current, parent: any(i(run, current, parent) for i in items)
    return _comparison(node)


def _value(node: Node) -> Fn:
    if isinstance(node, Literal):
        constant = node.value
        return lambda run, current, parent: constant
    if isinstance(node, TraitRef):
        path = node.path
        return lambda run, current, parent: get_path(run.traits(), path)
    if isinstance(node, PropertyRef):
        path = node.path
        if node.parent:
            return lambda run, current, parent: get_path(parent.properties, path) if parent else None
        return lambda run, current, parent: get_path(current.properties, path) if current else None
    if isinstance(node, ContextRef):
        return _context(node.path)
    assert isinstance(node, Reduce)
    return _reduce(node)


def _context(path: tuple[str, ...]) -> Fn:
    top_level = path[0] in _TOP_LEVEL

    def context(run: Run, current: Event, parent: Event) -> Any:
        if current is None:
            return None
        if top_level and path[0] not in current.context:
            return get_path(current.raw, path)
        return get_path(current.context, path)

    return context


def _reduce(node: Reduce) -> Fn:
    reduce = _over_events(node)
    if not foldable(node):
        return lambda run, current, parent: reduce(run, current)
    fold = _fold(node)

    def value(run: Run, current: Event, parent: Event) -> Any:
        return fold(run) if current is None and run.incremental else reduce(run, current)

    return value


def _fold(node: Reduce) -> Callable[[Run], Any]:
    """The reducer at the top level kept up to date per profile (folds.py): the same values handed to
    the same reducer function as `_over_events`."""
    key = _key(node)
    name = node.chain.name
    steps = [_filter(f) for f in node.chain.filters]
    if node.reducer == "count":
        return lambda run: len(folded(run, key, name, steps, _count_one))
    assert node.argument is not None
    argument = _value(node.argument)
    of_numbers = numeric(node)
    if of_numbers is None:
        reduce = reducer(node)

        def read(run: Run, event: ProfileEvent, values: list[Any]) -> None:
            values.append(argument(run, event, None))

        return lambda run: reduce(folded(run, key, name, steps, read))

    def read_number(run: Run, event: ProfileEvent, values: list[Any]) -> None:
        value = argument(run, event, None)
        if value is not None and (number := to_number(value)) is not None:  # as `reducers.numbers`
            values.append(number)

    return lambda run: of_numbers(folded(run, key, name, steps, read_number))


def _count_one(run: Run, event: ProfileEvent, values: list[Any]) -> None:
    values.append(None)


def _over_events(node: Reduce) -> Callable[[Run, Event], Any]:
    """The reduced value of the chain's events (nested in the event `anchor`, or at the top level: None)."""
    stream = _chain(node.chain)
    if node.reducer == "count":
        return lambda run, anchor: len(stream(run, anchor))
    assert node.argument is not None
    argument = _value(node.argument)

    def values(run: Run, anchor: Event) -> list[Any]:
        # Inside the chain, its events are current and the event it is nested in is the parent.
        return [argument(run, event, anchor) for event in stream(run, anchor)]

    of_numbers = numeric(node)
    if of_numbers is None:
        reduce = reducer(node)
        return lambda run, anchor: reduce(values(run, anchor))
    top_numbers = _top_level(lambda run, anchor: numbers(values(run, anchor)))
    key = _key((node.chain, node.argument)) if _shareable(node) else None

    def of_events(run: Run, anchor: Event) -> Any:
        # sum, avg, min and max of the same property over the same chain read the same numbers.
        if anchor is None and key is not None:
            return of_numbers(run.shared(key, top_numbers))
        return of_numbers(numbers(values(run, anchor)))

    return of_events


def _chain(chain: EventChain) -> Stream:
    name = chain.name
    filters = [_filter(f) for f in chain.filters]

    def stream(run: Run, anchor: Event) -> list[ProfileEvent]:
        events = run.stream(name)
        for step in filters:
            if not events:
                break
            events = step(run, events, anchor)
        return events

    if not filters or not _shareable(chain):
        return stream
    key = _key(chain)
    top = _top_level(stream)
    # A chain nested in an event depends on it; at the top level the same chain gives the same events.
    return lambda run, anchor: run.shared(key, top) if anchor is None else stream(run, anchor)


def _top_level(fn: Callable[[Run, Event], T]) -> Callable[[Run], T]:
    return lambda run: fn(run, None)


_KEYS: dict[object, int] = {}
_UNIQUE = itertools.count()


def _key(node: object) -> int:
    """A small number per expression (columns aside): the same for the same expression in any definition."""
    shape = _shape(node)
    try:
        return _KEYS.setdefault(shape, len(_KEYS))
    except TypeError:  # a literal that cannot be a key: shared with no other expression
        return -1 - next(_UNIQUE)


def _shape(node: object) -> object:
    if is_dataclass(node) and not isinstance(node, type):
        items = (_shape(getattr(node, f.name)) for f in fields(node) if f.name != "column")
        return (type(node).__name__, *items)
    if isinstance(node, tuple):
        return tuple(_shape(item) for item in node)
    return (type(node).__name__, node)  # True and 1 are equal and hash alike, but are not the same literal


def _shareable(node: object) -> bool:
    """Whether `node` reads the events and the instant only: no trait (other definitions' values are traits
    and change from one definition to the next)."""
    if isinstance(node, TraitRef):
        return False
    if is_dataclass(node) and not isinstance(node, type):
        return all(_shareable(getattr(node, f.name)) for f in fields(node))
    if isinstance(node, tuple):
        return all(_shareable(item) for item in node)
    return True


def _filter(node: Filter) -> StreamFilter:
    if isinstance(node, Where):
        condition = _condition(node.condition)
        return lambda run, events, anchor: [e for e in events if condition(run, e, anchor)]
    if isinstance(node, Sources):
        exclude = node.exclude
        return lambda run, events, anchor: [e for e in events if e.source not in exclude]
    if isinstance(node, ExpiresAfter):
        return _session(node.micros)
    if node.parent:
        return _parent_window(node.start, node.end)
    return _window(node.start, node.end)


def _window(start: int, end: int) -> StreamFilter:
    def window(run: Run, events: list[ProfileEvent], anchor: Event) -> list[ProfileEvent]:
        now = run.now
        kept = []
        entering = None
        for event in events:
            if event.ts + start > now:
                entering = event.ts + start if entering is None else min(entering, event.ts + start)
            elif now < event.ts + end:
                kept.append(event)
        if entering is not None:
            run.at(entering)
        if kept:
            run.at(kept[0].ts + end)  # the oldest kept event leaves first
        return kept

    return window


def _parent_window(start: int, end: int) -> StreamFilter:
    def window(run: Run, events: list[ProfileEvent], anchor: Event) -> list[ProfileEvent]:
        assert anchor is not None  # the parser allows parent: only in nested chains
        low, high = anchor.ts + start, anchor.ts + end
        return [e for e in events if low <= e.ts < high and e is not anchor]

    return window


def _session(length: int) -> StreamFilter:
    def session(run: Run, events: list[ProfileEvent], anchor: Event) -> list[ProfileEvent]:
        ends = events[-1].ts + length
        if run.now >= ends:
            return []
        run.at(ends)
        first = len(events) - 1
        while first > 0 and events[first - 1].ts + length > events[first].ts:
            first -= 1
        return events[first:]

    return session


def _comparison(node: Comparison) -> Fn:
    operand = _value(node.operand)
    arguments = [_value(a) for a in node.arguments]
    name = node.comparator
    if name in ("absent", "exists"):
        want = name == "exists"
        return lambda run, current, parent: (operand(run, current, parent) is not None) is want
    if node.duration is not None:
        return _relative_date(operand, name, node.duration.micros)
    test = _TESTS[name]
    if all(isinstance(a, Literal) for a in node.arguments):  # the common case: compared with constants
        constants = [a.value for a in node.arguments if isinstance(a, Literal) and a.value is not None]

        def compare_constants(run: Run, current: Event, parent: Event) -> bool:
            value = operand(run, current, parent)
            return value is not None and test(value, constants)

        return compare_constants

    def compare(run: Run, current: Event, parent: Event) -> bool:
        value = operand(run, current, parent)
        if value is None:
            return False
        given = [a(run, current, parent) for a in arguments]
        return test(value, [g for g in given if g is not None])

    return compare


def _relative_date(operand: Fn, name: str, length: int) -> Fn:
    def compare(run: Run, current: Event, parent: Event) -> bool:
        instant = to_instant(operand(run, current, parent))
        if instant is None:
            return False
        now = run.now
        if name == "within_last":  # instant <= now < instant + length
            edges = (instant, instant + length)
        elif name == "within_next":  # instant - length <= now < instant
            edges = (instant - length, instant)
        elif name == "before_last":  # instant + length <= now
            edges = (instant + length, _FOREVER)
        else:  # after_next: now < instant - length
            edges = (_NEVER, instant - length)
        for edge in edges:
            run.at(edge)
        return edges[0] <= now < edges[1]

    return compare


_FOREVER = 2**63
_NEVER = -(2**63)


def _ordered(*wanted: int) -> Callable[[object, list[object]], bool]:
    def test(value: object, given: list[object]) -> bool:
        return bool(given) and order(value, given[0]) in wanted

    return test


def _text_test(
    check: Callable[[str, str], bool], *, negate: bool = False
) -> Callable[[object, list[object]], bool]:
    def test(value: object, given: list[object]) -> bool:
        text = to_text(value)
        assert text is not None
        hit = any(check(text, t) for g in given if (t := to_text(g)) is not None)
        return hit is not negate

    return test


def _date_test(before: bool) -> Callable[[object, list[object]], bool]:
    def test(value: object, given: list[object]) -> bool:
        a = to_instant(value)
        b = to_instant(given[0]) if given else None
        return a is not None and b is not None and (a < b if before else a > b)

    return test


_TESTS: dict[str, Callable[[object, list[object]], bool]] = {
    "equals": lambda value, given: bool(given) and equals(value, given[0]),
    "differs": lambda value, given: bool(given) and not equals(value, given[0]),
    "greater_than": _ordered(1),
    "at_least": _ordered(0, 1),
    "less_than": _ordered(-1),
    "at_most": _ordered(-1, 0),
    "contains": _text_test(lambda text, part: part in text),
    "omits": _text_test(lambda text, part: part in text, negate=True),
    "starts_with": _text_test(str.startswith),
    "ends_with": _text_test(str.endswith),
    "one_of": lambda value, given: any(equals(value, g) for g in given),
    "none_of": lambda value, given: bool(given) and not any(equals(value, g) for g in given),
    "before_date": _date_test(before=True),
    "after_date": _date_test(before=False),
}
