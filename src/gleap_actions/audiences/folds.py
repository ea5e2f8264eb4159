"""Reducers kept up to date per profile: an event read once, not again at every evaluation.

A `Fold` holds, for one top-level reducer (`count`, `sum`, `avg`, `min`, `max`, `first`, `last`, `mode`,
`unique`) of one profile, what its chain let through so far: the values the reducer reads, in time order.
An evaluation reads only the events added since, each through the same filter closures as a full one
(one event at a time), and hands the values to the same reducer function: the result is the full
evaluation's by construction, as long as
* the profile's events of that name are the ones read before with new ones after them in time (the first
  and last read are still the same objects at the same places: a late event placed among them, a pruned
  one or a reloaded profile starts again from the first event);
* no decision the chain made depends on the time has changed: `now` is before the first instant any of
  them would flip (`until`: a window's edge, a future event's time) and not earlier than the last update.

Only reducers whose chain reads each event alone qualify (`foldable`): `where` without traits or nested
chains, `within`/`between` without `parent:`, `sources`. A fold notes only the first instant its result
can change, so it is used where the evaluation needs no more than that (`Run.incremental`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import fields, is_dataclass
from typing import Any

from gleap_actions.audiences.nodes import ExpiresAfter, Reduce, TraitRef, Where, Window
from gleap_actions.audiences.profile import LATEST, ProfileEvent, Run

Step = Callable[[Run, list[ProfileEvent], ProfileEvent | None], list[ProfileEvent]]
_NEVER = LATEST + 1


class Fold:
    """What one reducer's chain let through of a profile's events up to `seen`."""

    __slots__ = ("first", "last", "now", "seen", "until", "values")

    def __init__(self) -> None:
        self.first: ProfileEvent | None = None
        self.last: ProfileEvent | None = None
        self.seen = 0  # events of the name read (those after are new, or in the future of `now`)
        self.now = -1
        self.until = _NEVER  # the first instant a decision made so far changes
        self.values: list[Any] = []

    def extends(self, events: Sequence[ProfileEvent], now: int) -> bool:
        """Whether `events` are the ones read with new ones after them, and nothing changed with time."""
        if not self.now <= now < self.until or len(events) < self.seen:
            return False
        return self.seen == 0 or (events[0] is self.first and events[self.seen - 1] is self.last)


def foldable(node: Reduce) -> bool:
    """Whether the chain of `node` decides on each event alone (see the module docstring)."""
    for step in node.chain.filters:
        if isinstance(step, ExpiresAfter) or (isinstance(step, Window) and step.parent):
            return False
        if isinstance(step, Where) and not _alone(step.condition):
            return False
    return True


def _alone(node: object) -> bool:
    if isinstance(node, TraitRef | Reduce):
        return False
    if is_dataclass(node) and not isinstance(node, type):
        return all(_alone(getattr(node, f.name)) for f in fields(node))
    if isinstance(node, tuple):
        return all(_alone(item) for item in node)
    return True


def folded(
    run: Run,
    key: int,
    name: str,
    steps: Sequence[Step],
    read: Callable[[Run, ProfileEvent, list[Any]], None],
) -> list[Any]:
    """The values the chain lets through of the profile's `name` events at `run.now` (`read` appends an
    event's values), brought up to date from the fold kept under `key`; the first instant it can change
    is noted on `run`."""
    folds = run.profile.folds
    assert folds is not None
    events = run.profile.by_name.get(name, [])
    now = run.now
    fold = folds.get(key)
    if fold is None or not fold.extends(events, now):
        fold = folds[key] = Fold()
    noted = run.breakpoints
    assert noted is not None  # an incremental run notes instants
    mark = len(noted)
    index = fold.seen
    while index < len(events):
        event = events[index]
        if event.ts > now:  # as `Run.stream`: later events are in the future of now
            run.at(event.ts)
            break
        kept = [event]
        for step in steps:
            kept = step(run, kept, None)
            if not kept:
                break
        if kept:
            read(run, event, fold.values)
        index += 1
    if index:
        fold.first, fold.last = events[0], events[index - 1]
    fold.seen = index
    fold.now = now
    if len(noted) > mark:
        fold.until = min(fold.until, *noted[mark:])
    run.at(fold.until)
    return fold.values
