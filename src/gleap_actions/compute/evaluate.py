"""One profile's due keys evaluated at an instant: the new values, which of them to deliver, and when to look
again. Pure: the computer reads the profile before and writes the outcomes after."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

from gleap_actions.audiences import Profile
from gleap_actions.audiences.profile import ProfileEvent, read_event
from gleap_actions.audiences.values import to_instant, to_micros
from gleap_actions.compute.active import Active
from gleap_actions.queue.profiles import StoredProfile

_EPOCH = "1970-01-01T00:00:00Z"
_POSITIONS = itertools.count(1)  # 0: the identify holding the latest traits
_UNREADABLE = object()  # a kept event without a valid time, read already
# Candidate instants `next_change` tries per definition and timer evaluation. Past them the profile is
# looked at again at the next candidate: a few early wake-ups instead of a cost growing with its events.
BUDGET = 4
# An evaluation an event caused tries none: it wakes up at the first instant its result could change, and
# that timer evaluation looks further. Events are the hot path (each candidate costs a whole evaluation);
# timers are spread out in time.
EVENT_BUDGET = 0


class Outcome(NamedTuple):
    """A key evaluated for one profile (a tuple: one is made per key and evaluation)."""

    key: str
    value: Any
    previous: Any
    next_at: float | None  # Unix seconds of the next possible change, None: only an event changes it
    send: bool  # the value differs from the one delivered and the profile has a userId
    known: bool  # a value is (now) delivered for this key


def default(kind: str) -> Any:
    """The value of a profile outside an audience (False) or without a computed trait (None)."""
    return False if kind == "audience" else None


def same(a: Any, b: Any) -> bool:
    """Equal values of the same type (True is not 1)."""
    return type(a) is type(b) and a == b


def event_time(event: Mapping[str, Any]) -> float | None:
    """Unix seconds at which the evaluator places `event` (as `audiences.Profile` does), or None."""
    for field in ("timestamp", "originalTimestamp", "receivedAt"):
        if event.get(field) is not None:
            micros = to_instant(event[field])
            return None if micros is None else micros / 1e6
    return None


def event_ids(event: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """The userId and the anonymous ids (`anonymousId`, an alias's `previousId`) of `event`, as the profile
    store keeps them: non-empty strings, or numbers as strings."""
    anonymous = [a for a in (_id(event.get("anonymousId")), _id(event.get("previousId"))) if a]
    return _id(event.get("userId")), anonymous


def _id(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        return None
    return str(value)


def as_profile(stored: StoredProfile) -> Profile:
    """The evaluator's profile: the kept events, the latest traits as one identify, delivered values.

    Each kept event is read once (`KeptEvent.parsed`, kept with the cached profile); its position is a
    number that grows with every event read, so ties in time keep the order in which events were kept."""
    identify: dict[str, Any] = {"type": "identify", "traits": stored.traits, "timestamp": _EPOCH}
    if stored.user_id is not None:
        identify["userId"] = stored.user_id
    read = [e for e in (read_event(identify, 0),) if e is not None]
    for kept in stored.events:
        if kept.parsed is None:
            kept.parsed = read_event(kept.event, next(_POSITIONS)) or _UNREADABLE
        if isinstance(kept.parsed, ProfileEvent):
            read.append(kept.parsed)
    profile = Profile.of_read(read, stored.values)
    profile.folds = stored.folds
    return profile


def evaluate(active: Active, stored: StoredProfile, due: Mapping[str, float], now: float) -> list[Outcome]:
    """Evaluate `due` (key -> when it fell due, 0: an event touched it) and the keys reading a key that
    changed, for `stored` at `now` (Unix seconds)."""
    profile = as_profile(stored)
    instant = to_micros(datetime.fromtimestamp(now, UTC))
    changed: set[str] = set()
    outcomes: list[Outcome] = []
    for key in active.order:
        computation = active.computations[key]
        definition = computation.definition
        if key not in due and (not changed or definition.references.traits.isdisjoint(changed)):
            continue
        budget = BUDGET if due.get(key, 0) > 0 else EVENT_BUDGET
        value, upcoming = definition.evaluate_at(profile, instant, budget)
        fallback = default(computation.kind)
        previous = stored.values.get(key, fallback)
        differs = not same(value, previous)
        send = differs and stored.user_id is not None
        known = send or (key in stored.values and not differs)
        if differs:
            changed.add(key)
            profile.computed[key] = value
        next_at = None if upcoming is None else upcoming / 1e6
        outcomes.append(Outcome(key, value, previous, next_at, send, known))
    return outcomes
