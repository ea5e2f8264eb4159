"""What the compute stage reports as it works (`ComputeObserver`), and its metrics on the service's
registry (`ComputeMetrics`). The stage may run in a child process: it reports through the same calls,
forwarded (compute/process.py)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ComputeObserver(Protocol):
    """Told what the compute stage did in a round."""

    def changed(self, user: str | None, key: str, kind: str, value: Any) -> None:
        """A change was delivered: `user` (userId, else anonymousId) got `value` for `key`."""

    def evaluated(self, seconds: float) -> None:
        """One round of due profiles took `seconds`."""

    def stored(self, members: Mapping[str, int], pending: int) -> None:
        """Members per key, and evaluations due now."""

    def sync_left(self, key: str, left: int) -> None:
        """Profiles the sync of `key` has still to mark."""

    def backfill_left(self, left: int) -> None:
        """Events the backfills have still to read back."""


class Silent:
    """Tells no one."""

    def changed(self, user: str | None, key: str, kind: str, value: Any) -> None:
        """Nothing."""

    def evaluated(self, seconds: float) -> None:
        """Nothing."""

    def stored(self, members: Mapping[str, int], pending: int) -> None:
        """Nothing."""

    def sync_left(self, key: str, left: int) -> None:
        """Nothing."""

    def backfill_left(self, left: int) -> None:
        """Nothing."""


class ComputeMetrics:
    """Members, entries, exits, value changes, evaluation time, timer work due, the stage's lag behind the
    queue, sync and backfill left; each delivered change is also passed to `on_change` (the console's list
    of recent changes)."""

    def __init__(
        self,
        registry: CollectorRegistry,
        on_change: Callable[[str | None, str, Any], None] = lambda _user, _key, _value: None,
    ) -> None:
        self.on_change = on_change
        self.members = Gauge(
            "gleap_actions_audience_members",
            "Profiles in each audience, or with a value of each computed trait (delivered values)",
            ["key"],
            registry=registry,
        )
        self.entered = Counter(
            "gleap_actions_audience_entered",
            "Profiles that entered each audience",
            ["key"],
            registry=registry,
        )
        self.exited = Counter(
            "gleap_actions_audience_exited", "Profiles that left each audience", ["key"], registry=registry
        )
        self.changes = Counter(
            "gleap_actions_computed_trait_changes",
            "Computed trait values delivered, per key",
            ["key"],
            registry=registry,
        )
        self.evaluation = Histogram(
            "gleap_actions_audience_evaluation_seconds",
            "Time to evaluate one round of due profiles",
            registry=registry,
        )
        self.pending = Gauge(
            "gleap_actions_audience_pending",
            "Evaluation marks due now: one per profile touched by events since its last evaluation (however"
            " many keys and events), one per profile and key whose timer expired; events not read yet by"
            " the compute stage are not counted",
            registry=registry,
        )
        self.lag_events = Gauge(
            "gleap_actions_audience_lag_events",
            "Events stored that the compute stage has not read yet (by id: about with PostgreSQL)",
            registry=registry,
        )
        self.lag_seconds = Gauge(
            "gleap_actions_audience_lag_seconds",
            "Age of the oldest event the compute stage has not read yet (0 when it is caught up)",
            registry=registry,
        )
        self.sync_profiles = Gauge(
            "gleap_actions_audience_sync_profiles_left",
            "Profiles the initial sync of each key has still to mark",
            ["key"],
            registry=registry,
        )
        self.backfill_events = Gauge(
            "gleap_actions_audience_backfill_events_left",
            "Events of the queue the initial syncs have still to read back",
            registry=registry,
        )

    def changed(self, user: str | None, key: str, kind: str, value: Any) -> None:
        """Count a delivered change and pass it on."""
        if kind == "audience":
            (self.entered if value is True else self.exited).labels(key).inc()
        else:
            self.changes.labels(key).inc()
        self.on_change(user, key, value)

    def evaluated(self, seconds: float) -> None:
        """Observe one round's evaluation time."""
        self.evaluation.observe(seconds)

    def stored(self, members: Mapping[str, int], pending: int) -> None:
        """Set the gauges of members and pending work."""
        for key, count in members.items():
            self.members.labels(key).set(count)
        self.pending.set(pending)

    def lagging(self, events: int, age: float) -> None:
        """Set the lag gauges: events not read yet by the stage, and the oldest one's age."""
        self.lag_events.set(events)
        self.lag_seconds.set(age)

    def sync_left(self, key: str, left: int) -> None:
        """Set the sync gauge of `key`."""
        self.sync_profiles.labels(key).set(left)

    def backfill_left(self, left: int) -> None:
        """Set the backfill gauge."""
        self.backfill_events.set(left)
