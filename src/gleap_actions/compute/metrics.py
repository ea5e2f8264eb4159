"""The metrics of audiences and computed traits, on the service's registry."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gleap_actions.compute.active import Active
from gleap_actions.compute.evaluate import Outcome


class ComputeMetrics:
    """Members, entries, exits, value changes, evaluation time, timer work due, initial sync left."""

    def __init__(self, registry: CollectorRegistry) -> None:
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
        self.changed = Counter(
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
            "Profile evaluations due now (events not yet evaluated and timers expired)",
            registry=registry,
        )
        self.sync_left = Gauge(
            "gleap_actions_audience_sync_profiles_left",
            "Profiles the initial sync of each key has still to mark",
            ["key"],
            registry=registry,
        )

    def count(self, active: Active, outcomes: Iterable[Outcome]) -> None:
        """Count the delivered changes of one profile."""
        for outcome in outcomes:
            if not outcome.send:
                continue
            if active.computations[outcome.key].kind == "audience":
                (self.entered if outcome.value is True else self.exited).labels(outcome.key).inc()
            else:
                self.changed.labels(outcome.key).inc()

    def observe_store(self, members: Mapping[str, int], pending: int) -> None:
        """Set the gauges read from the store."""
        for key, count in members.items():
            self.members.labels(key).set(count)
        self.pending.set(pending)
