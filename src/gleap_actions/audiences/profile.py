"""One profile's events, read once, and one evaluation of it at an instant (`Run`).

Events are placed in time by `timestamp` (else `originalTimestamp`, else `receivedAt`); one without a valid
time is ignored. An evaluation at `now` sees only the events at or before `now`. Page calls are the event
`Page Viewed` and screen calls `Screen Viewed`; their `name` is also the property `page_name` /
`screen_name`. Traits are the identify calls' `traits`, the newest value of each trait winning.

A `Run` with `breakpoints` set records, at every decision that depends on the time, the next instant at
which that decision would flip; `Definition.next_change` evaluates at those instants only.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gleap_actions.audiences.values import get_path, to_instant

PAGE_EVENT = "Page Viewed"
SCREEN_EVENT = "Screen Viewed"
# The last microsecond a datetime can hold; later instants (a window edge past year 9999) never come.
LATEST = 253_402_300_799_999_999
_NAMED = {"page": (PAGE_EVENT, "page_name"), "screen": (SCREEN_EVENT, "screen_name")}


@dataclass(frozen=True, slots=True)
class ProfileEvent:
    """One event as the evaluator reads it. `seq` is its position in the input (ties in time keep it)."""

    ts: int
    seq: int
    name: str | None
    properties: Mapping[str, Any]
    context: Mapping[str, Any]
    source: str | None
    raw: Mapping[str, Any]


def event_name(event: Mapping[str, Any]) -> str | None:
    """The name `event()` selects this call by: a track's event, `Page Viewed`, `Screen Viewed`; else None."""
    kind = event.get("type")
    if kind in _NAMED:
        return _NAMED[kind][0]
    if kind == "track" or (kind is None and "event" in event):
        name = event.get("event")
        return name if isinstance(name, str) and name else None
    return None


def has_user_id(event: Mapping[str, Any]) -> bool:
    """Whether the event identifies a known user: a userId, or an email in identify traits."""
    user_id = event.get("userId")
    if isinstance(user_id, str | int) and not isinstance(user_id, bool) and user_id != "":
        return True
    traits = event.get("traits")
    return event.get("type") == "identify" and isinstance(traits, dict) and bool(traits.get("email"))


def read_event(event: Mapping[str, Any], seq: int) -> ProfileEvent | None:
    """`event` as the evaluator reads it, `seq` its position among the profile's events (ties in time keep
    that order); None for an event without a valid time."""
    ts = None
    for field in ("timestamp", "originalTimestamp", "receivedAt"):
        if event.get(field) is not None:
            ts = to_instant(event[field])
            break
    if ts is None:
        return None
    properties = event.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    kind = event.get("type")
    if kind in _NAMED and isinstance(event.get("name"), str):
        key = _NAMED[kind][1]
        properties = {"name": event["name"], key: event["name"], **properties}
    if kind == "identify":
        traits = event.get("traits")
        properties = traits if isinstance(traits, dict) else {}
    context = event.get("context")
    context = context if isinstance(context, dict) else {}
    source = get_path(context, ("sourceId",))
    return ProfileEvent(
        ts, seq, event_name(event), properties, context, source if isinstance(source, str) else None, event
    )


class Profile:
    """A profile's events, parsed and sorted by time once; evaluated many times."""

    def __init__(
        self, events: Iterable[Mapping[str, Any]], computed: Mapping[str, Any] | None = None
    ) -> None:
        """`computed`: values of other definitions, read as traits over the identify calls' ones."""
        parsed = [
            e for seq, raw in enumerate(events) if isinstance(raw, dict) and (e := read_event(raw, seq))
        ]
        self._index(parsed, computed)

    @classmethod
    def of_read(cls, events: list[ProfileEvent], computed: Mapping[str, Any] | None = None) -> Profile:
        """The profile of events already read (`read_event`), in any order: read once, evaluated by many."""
        profile = cls.__new__(cls)
        profile._index(events, computed)
        return profile

    def _index(self, parsed: list[ProfileEvent], computed: Mapping[str, Any] | None) -> None:
        self.computed = dict(computed or {})
        parsed.sort(key=lambda e: (e.ts, e.seq))
        self.by_name: dict[str, list[ProfileEvent]] = {}
        self.identifies: list[ProfileEvent] = []
        eligible = [e.ts for e in parsed if has_user_id(e.raw)]
        self.eligible_from: int | None = min(eligible) if eligible else None
        for event in parsed:
            if event.name is not None:
                self.by_name.setdefault(event.name, []).append(event)
            elif event.raw.get("type") == "identify":
                self.identifies.append(event)
        self.times = {name: [e.ts for e in events] for name, events in self.by_name.items()}
        self.identify_times = [e.ts for e in self.identifies]
        # What definitions evaluated over this profile at one instant share: key -> (result, instants noted).
        self.shared: dict[int, tuple[Any, list[int]]] = {}
        self.shared_at: int | None = None
        # Reducers kept up to date across evaluations (`folds.Fold` by reducer), where the caller keeps
        # them with the profile's events; None: every evaluation reads every event.
        self.folds: dict[int, Any] | None = None


class Run:
    """One evaluation of a profile at `now` (microseconds since 1970)."""

    __slots__ = ("_traits", "breakpoints", "incremental", "now", "profile")

    def __init__(
        self, profile: Profile, now: int, breakpoints: list[int] | None = None, *, incremental: bool = False
    ) -> None:
        """`incremental`: only the first instant noted matters, so reducers may use the profile's folds."""
        self.profile = profile
        self.now = now
        self.breakpoints = breakpoints
        self.incremental = incremental and profile.folds is not None
        self._traits: dict[str, Any] | None = None

    def at(self, instant: int) -> None:
        """Note that a decision changes at `instant` (only instants after now are kept)."""
        if self.breakpoints is not None and self.now < instant <= LATEST:
            self.breakpoints.append(instant)

    def stream(self, name: str) -> list[ProfileEvent]:
        """The events named `name` up to now, oldest first."""
        events = self.profile.by_name.get(name)
        if not events:
            return []
        times = self.profile.times[name]
        cut = bisect_right(times, self.now)
        if cut < len(times):
            self.at(times[cut])
        return events[:cut]

    def shared(self, key: int, compute: Callable[[Run], Any]) -> Any:
        """`compute(self)`, once per profile, instant and `key` for every definition evaluated over this
        profile (a chain, or a reducer over one, several definitions have in common): the result and the
        instants it noted are kept and noted again. Only for what depends on the events and the instant
        alone: not on traits, which other definitions' values change between two evaluations."""
        profile = self.profile
        if profile.shared_at != self.now:
            profile.shared.clear()
            profile.shared_at = self.now
        entry = profile.shared.get(key)
        if entry is None:
            outer = self.breakpoints
            noted: list[int] = []
            self.breakpoints = noted
            try:
                result = compute(self)
            finally:
                self.breakpoints = outer
            entry = profile.shared[key] = (result, noted)
        if self.breakpoints is not None:
            self.breakpoints.extend(entry[1])
        return entry[0]

    def traits(self) -> dict[str, Any]:
        """The profile's traits as of now: every identify up to now, the newest value of each trait wins."""
        if self._traits is None:
            times = self.profile.identify_times
            cut = bisect_right(times, self.now)
            if cut < len(times):
                self.at(times[cut])
            merged: dict[str, Any] = {}
            for event in self.profile.identifies[:cut]:
                merged.update(event.properties)
            merged.update(self.profile.computed)
            self._traits = merged
        return self._traits

    def eligible(self) -> bool:
        """Whether the profile has a userId (or an identified email) as of now."""
        start = self.profile.eligible_from
        if start is None:
            return False
        self.at(start)
        return start <= self.now
