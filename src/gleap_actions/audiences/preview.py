"""Previewing a definition over a file of Segment events: events grouped into profiles, then evaluated.

Profiles are joined the way identify and alias calls join them: every call's `userId` and `anonymousId`
belong to one profile, and an alias joins its `previousId` to its `userId`. A call with neither id is
skipped. Invalid lines are reported and skipped; they never stop the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from gleap_actions.audiences.definition import Definition
from gleap_actions.audiences.profile import Profile as ReadProfile
from gleap_actions.engine.datetimes import format_iso


@dataclass
class Profile:
    """One profile of the file: its ids (in the order first seen) and its events."""

    user_ids: list[str] = field(default_factory=list)
    anonymous_ids: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Skipped:
    """A line that is not a Segment event with an id: its 1-based number and why."""

    line: int
    reason: str


def _id(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


class _Identities:
    """Union-find over namespaced ids (`u:` user ids, `a:` anonymous ids)."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, item: str) -> str:
        root = self.parent.setdefault(item, item)
        while root != self.parent[root]:
            root = self.parent[root]
        while item != root:  # path compression
            self.parent[item], item = root, self.parent[item]
        return root

    def union(self, items: list[str]) -> None:
        roots = [self.find(item) for item in items]
        for root in roots[1:]:
            self.parent[root] = roots[0]


def group_profiles(lines: Iterable[bytes | str]) -> tuple[list[Profile], list[Skipped]]:
    """The profiles of a JSONL file, in the order each first appears, and the lines that were skipped."""
    identities = _Identities()
    events: list[tuple[list[str], dict[str, Any]]] = []
    skipped: list[Skipped] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            skipped.append(Skipped(number, "invalid JSON"))
            continue
        if not isinstance(event, dict):
            skipped.append(Skipped(number, "not a JSON object"))
            continue
        ids = [f"u:{u}" for u in [_id(event.get("userId"))] if u]
        ids += [f"a:{a}" for a in [_id(event.get("anonymousId"))] if a]
        if event.get("type") == "alias" and (previous := _id(event.get("previousId"))):
            ids += [f"u:{previous}", f"a:{previous}"]
        if not ids:
            skipped.append(Skipped(number, "no userId or anonymousId"))
            continue
        identities.union(ids)
        events.append((ids, event))
    profiles: dict[str, Profile] = {}
    for ids, event in events:
        profile = profiles.setdefault(identities.find(ids[0]), Profile())
        profile.events.append(event)
        user_id, anonymous_id = _id(event.get("userId")), _id(event.get("anonymousId"))
        if user_id and user_id not in profile.user_ids:
            profile.user_ids.append(user_id)
        if anonymous_id and anonymous_id not in profile.anonymous_ids:
            profile.anonymous_ids.append(anonymous_id)
    return list(profiles.values()), skipped


def preview(
    definition: Definition,
    profiles: Iterable[Profile],
    now: datetime,
    *,
    next_change: bool = False,
    dependencies: Sequence[tuple[str, Definition]] = (),
) -> Iterator[dict[str, Any]]:
    """One record per member (audience) or per profile with a value (computed trait): `userId` (the last
    one seen, or null), `anonymousIds`, `value`, and with `next_change` the instant the value next changes
    with no new event (`nextChange`, ISO 8601, or null).

    `dependencies`: the definitions it reads as `trait('<key>')`, in evaluation order; each profile's values
    of those are computed first (at `now`).
    """
    for profile in profiles:
        computed: dict[str, Any] = {}
        for key, dependency in dependencies:
            computed[key] = dependency.evaluate(ReadProfile(profile.events, computed), now)
        events = ReadProfile(profile.events, computed)
        value = definition.evaluate(events, now)
        if value is None or (definition.kind == "audience" and value is not True):
            continue
        user_id = profile.user_ids[-1] if profile.user_ids else None
        record = {"userId": user_id, "anonymousIds": profile.anonymous_ids, "value": value}
        if next_change:
            upcoming = definition.next_change(events, now)
            record["nextChange"] = None if upcoming is None else format_iso(upcoming)
        yield record
