"""The hot profiles of the profile store kept parsed in memory by the one process that writes it.

Only the holder of the event cursor's lease writes the profile store (identities, traits, kept events,
values), so its own copy stays true as long as it writes through it and holds the lease without a break:
`ProfileStore.lease` empties it whenever the lease was not simply renewed (another process may have
written meanwhile, or a user was erased: erasure gives the lease back). Rare changes (joins, names
dropped, a definition removed) empty it too rather than patch it.

Bounded: the `size` profiles used last, and identities up to `10 * size` (then forgotten at once).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class KeptEvent:
    """An event kept for the definitions: its name, time (Unix seconds) and content. `parsed` is the
    evaluator's reading of it, made once by the reader (None: not read yet)."""

    name: str
    ts: float
    event: dict[str, Any]
    parsed: object = None


@dataclass(slots=True)
class CachedProfile:
    """A profile as stored: ids, traits, kept events in the order they were kept."""

    user_id: str | None
    anonymous_id: str | None
    traits: dict[str, Any]
    events: list[KeptEvent]
    values: dict[str, Any] = field(default_factory=dict)  # key -> value delivered
    # key -> `next_at` of its row in `profile_values` (absent: no row): a row evaluated to what it holds
    # already is not written again.
    next_at: dict[str, float | None] = field(default_factory=dict)
    folds: dict[int, Any] = field(default_factory=dict)  # the evaluator's reducers kept up to date


class ProfileCache:
    """Profiles by id and identities (`u:<userId>`, `a:<anonymousId>`) to profile ids."""

    def __init__(self, size: int = 20_000) -> None:
        self.size = size
        self.profiles: OrderedDict[int, CachedProfile] = OrderedDict()
        self.identities: dict[str, int] = {}
        self.with_user: set[int] = set()  # profiles whose userId is stored
        self.epoch = 0  # times emptied: what was counted from the cache before may be wrong too

    def clear(self) -> None:
        """Forget everything (the store may have changed behind this process's back)."""
        self.epoch += 1
        self.profiles.clear()
        self.identities.clear()
        self.with_user.clear()

    def get(self, profile: int) -> CachedProfile | None:
        """The cached profile, marked as used."""
        cached = self.profiles.get(profile)
        if cached is not None:
            self.profiles.move_to_end(profile)
        return cached

    def put(self, profile: int, cached: CachedProfile) -> None:
        """Keep `cached`, forgetting the profile used longest ago past `size`."""
        self.profiles[profile] = cached
        self.profiles.move_to_end(profile)
        if len(self.profiles) > self.size:
            self.profiles.popitem(last=False)

    def known(self, identities: list[str], user_id: str | None) -> int | None:
        """The profile all of `identities` belong to when nothing about them would change, else None."""
        found = {self.identities.get(identity) for identity in identities}
        if len(found) != 1 or None in found:
            return None
        profile = found.pop()
        assert profile is not None
        return profile if user_id is None or profile in self.with_user else None

    def remember(self, identities: list[str], profile: int, has_user: bool) -> None:
        """`identities` belong to `profile` (which has a userId when `has_user`)."""
        if len(self.identities) > 10 * self.size:
            self.identities.clear()
            self.with_user.clear()
        for identity in identities:
            self.identities[identity] = profile
        if has_user:
            self.with_user.add(profile)

    def prune(self, horizons: Mapping[str, float]) -> None:
        """Drop the cached events older than their name's horizon, as the store does."""
        for cached in self.profiles.values():
            cached.events = [e for e in cached.events if e.name not in horizons or e.ts >= horizons[e.name]]
