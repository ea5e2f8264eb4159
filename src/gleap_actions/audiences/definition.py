"""A compiled definition: evaluate a profile at an instant, and find the next instant its result changes."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from gleap_actions.audiences.analysis import References, analyse
from gleap_actions.audiences.compiler import compile_node
from gleap_actions.audiences.errors import QuerySyntaxError
from gleap_actions.audiences.parser import is_condition, parse
from gleap_actions.audiences.profile import Profile, Run
from gleap_actions.audiences.values import to_micros

Kind = Literal["audience", "computed_trait"]
KINDS: tuple[Kind, ...] = ("audience", "computed_trait")
# `next_change` evaluates at most this many candidate instants; past them it answers the next candidate,
# before which nothing changes (so a caller re-asks then).
MAX_CANDIDATES = 256
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Definition:
    """An audience or computed trait, compiled once. See `compile_definition`."""

    def __init__(self, text: str, kind: Kind, include_anonymous_users: bool) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be 'audience' or 'computed_trait', got {kind!r}")
        tree = parse(text)
        _check_kind(tree, kind, text)
        self.text = text
        self.kind: Kind = kind
        self.include_anonymous_users = include_anonymous_users
        self._root = compile_node(tree)
        references, history = analyse(tree)
        self.references: References = references
        # How far back events of each name can matter (None: without limit).
        self.history: Mapping[str, timedelta | None] = history
        self.window: timedelta | None = _longest(history.values())

    def __repr__(self) -> str:
        return f"Definition({self.text!r}, kind={self.kind!r})"

    def evaluate(self, events: Iterable[Mapping[str, Any]] | Profile, now: datetime) -> Any:
        """The result for one profile's Segment events (any order) at `now` (an aware datetime).

        An audience gives True or False, a computed trait its value (None: no value). A profile without a
        userId is not a member and has no value unless `include_anonymous_users` is set. `events` may be a
        `Profile` already read, to evaluate several definitions over one profile without reading it again.
        """
        return self._at(_profile(events), _micros(now), None)

    def next_change(self, events: Iterable[Mapping[str, Any]] | Profile, now: datetime) -> datetime | None:
        """The first instant after `now` at which the result differs with no new event, else None.

        The result stays the same at every instant strictly between `now` and the answer. Past
        MAX_CANDIDATES candidate instants without a change, the next candidate is answered instead.
        """
        return self.evaluate_with_next_change(events, now)[1]

    def evaluate_with_next_change(
        self, events: Iterable[Mapping[str, Any]] | Profile, now: datetime, *, budget: int = MAX_CANDIDATES
    ) -> tuple[Any, datetime | None]:
        """`evaluate` and `next_change` at once, evaluating at `now` only once. Past `budget` candidate
        instants without a change the next candidate is answered (an instant to look again, before which
        nothing changes): a small budget bounds the cost per call for profiles with many events."""
        value, upcoming = self.evaluate_at(_profile(events), _micros(now), budget)
        return value, None if upcoming is None else _datetime(upcoming)

    def evaluate_at(self, profile: Profile, now: int, budget: int) -> tuple[Any, int | None]:
        """`evaluate_with_next_change` in microseconds since 1970 (the compute stage's hot path: no
        datetimes made per definition)."""
        candidates: list[int] = []
        base = self._at(profile, now, candidates, incremental=budget == 0)
        if budget == 0:  # the first candidate after now (`Run.at` keeps only those), unchecked
            return base, min(candidates) if candidates else None
        heapq.heapify(candidates)
        checked = 0
        last = now
        while candidates:
            instant = heapq.heappop(candidates)
            if instant <= last:
                continue
            if checked == budget:
                return base, instant
            checked += 1
            last = instant
            found: list[int] = []
            value = self._at(profile, instant, found)
            if type(value) is not type(base) or value != base:
                return base, instant
            for candidate in found:
                heapq.heappush(candidates, candidate)
        return base, None

    def _at(
        self, profile: Profile, now: int, breakpoints: list[int] | None, *, incremental: bool = False
    ) -> Any:
        run = Run(profile, now, breakpoints, incremental=incremental)
        if not self.include_anonymous_users and not run.eligible():
            return False if self.kind == "audience" else None
        return self._root(run, None, None)


def _check_kind(tree: Any, kind: Kind, text: str) -> None:
    if kind == "audience" and not is_condition(tree):
        raise QuerySyntaxError(
            "expected a comparator (such as '>= 1' or '.exists()'): an audience must end in a boolean",
            text=text,
            column=len(text.rstrip()) + 1,
        )
    if kind == "computed_trait" and is_condition(tree):
        column = getattr(tree, "column", 1)
        raise QuerySyntaxError(
            "a computed trait must end in a value (such as count() or sum(property('x'))), not a comparison",
            text=text,
            column=column,
        )


def _longest(bounds: Iterable[timedelta | None]) -> timedelta | None:
    longest = timedelta(0)
    for bound in bounds:
        if bound is None:
            return None
        longest = max(longest, bound)
    return longest


def _profile(events: Iterable[Mapping[str, Any]] | Profile) -> Profile:
    return events if isinstance(events, Profile) else Profile(events)


def _micros(now: datetime) -> int:
    if not isinstance(now, datetime) or now.tzinfo is None:
        raise ValueError("now must be an aware datetime (with a time zone)")
    return to_micros(now)


def _datetime(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)
