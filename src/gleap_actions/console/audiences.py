"""What the audiences page shows besides the config: member counts over the last hour and the latest
entries and exits, both kept in memory by this process.

- Members: every activity sample (5 s) reads the `gleap_actions_audience_members` gauge, which the compute
  stage sets from the store at most every 5 s; the last reading of each minute is kept, 60 minutes in all.
  Nothing is read from the store for the chart. Like the overview's charts it covers this process since it
  started, and only a node that computes audiences has the gauge.
- Changes: the compute stage reports each delivered change (`record`, from its worker thread) into a ring
  of the last `size` ones. A restart empties it; the identify calls themselves stay in the queue.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry

from gleap_actions.console.activity import HOUR

MEMBERS = "gleap_actions_audience_members"


@dataclass(frozen=True, slots=True)
class Change:
    """One delivered change: a profile entered or left an audience, or a computed trait got a value."""

    at: float
    key: str
    user: str  # userId, or the anonymousId of an anonymous profile
    value: Any  # True/False for an audience (entered/exited), the value for a computed trait


@dataclass(frozen=True, slots=True)
class MemberSeries:
    """Members per minute over the last hour, oldest first (None: no reading in that minute)."""

    starts: list[float]
    counts: dict[str, list[int | None]]


def read_members(registry: CollectorRegistry) -> dict[str, int]:
    """The members gauge now, per key (empty where the compute stage does not run)."""
    return {
        sample.labels["key"]: int(sample.value)
        for metric in registry.collect()
        if metric.name == MEMBERS
        for sample in metric.samples
    }


class AudienceLog:
    """The ring of recent changes and the per-minute member readings."""

    def __init__(self, registry: CollectorRegistry, *, size: int = 100) -> None:
        self._registry = registry
        self.changes: deque[Change] = deque(maxlen=size)
        self._minutes: deque[tuple[float, dict[str, int]]] = deque(maxlen=HOUR.buckets)

    def record(self, user: str | None, key: str, value: Any, at: float | None = None) -> None:
        """A delivered change (thread-safe: a deque append)."""
        self.changes.append(Change(time.time() if at is None else at, key, user or "", value))

    def sample(self, now: float) -> dict[str, int]:
        """Keep the members gauge as this minute's reading; returns it."""
        members = read_members(self._registry)
        start = now - now % HOUR.width
        if self._minutes and self._minutes[-1][0] == start:
            self._minutes.pop()
        self._minutes.append((start, members))
        return members

    def series(self, keys: list[str], now: float) -> MemberSeries:
        """The last hour of readings for `keys`."""
        last = now - now % HOUR.width
        starts = [last - HOUR.width * i for i in range(HOUR.buckets - 1, -1, -1)]
        by_start = dict(self._minutes)
        return MemberSeries(
            starts,
            {key: [by_start[s].get(key, 0) if s in by_start else None for s in starts] for key in keys},
        )

    def recent(self, limit: int = 50) -> list[Change]:
        """The latest changes, newest first."""
        return list(reversed(self.changes))[:limit]
