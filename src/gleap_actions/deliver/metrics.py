"""Prometheus metrics of delivery, one registry per Pipeline so tests and embedders stay independent.

Counters are per destination and mapping (the `destination` label: `default` in the single-destination
form); queue gauges are refreshed from `Store.stats`. No label ever holds a secret
or an event value (mapping names and fixed reason words only).
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from gleap_actions.queue.store import DestinationQueue, QueueStats

ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PipelineMetrics:
    """The delivery metrics, registered in `registry`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.routed = Counter(
            "gleap_actions_routed_events", "Events routed to at least one mapping", registry=r
        )
        self.filtered = Counter(
            "gleap_actions_filtered_events",
            "Events not delivered by choice: integrations object off, or no mapping trigger matched",
            ["reason"],
            registry=r,
        )
        self.delivered = Counter(
            "gleap_actions_delivered",
            "Deliveries acknowledged by Gleap",
            ["destination", "mapping"],
            registry=r,
        )
        self.failed = Counter(
            "gleap_actions_failed_attempts",
            "Delivery attempts that failed (each event counted), by kind",
            ["destination", "mapping", "kind"],
            registry=r,
        )
        self.dead_lettered = Counter(
            "gleap_actions_dead_lettered",
            "Deliveries moved to dead letters",
            ["destination", "mapping", "reason"],
            registry=r,
        )
        self.requests = Counter(
            "gleap_actions_requests",
            "Requests sent to Gleap, by outcome",
            ["destination", "mapping", "outcome"],
            registry=r,
        )
        self.latency = Histogram(
            "gleap_actions_request_seconds",
            "Gleap request latency",
            ["destination", "mapping"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ack_wait = Histogram(
            "gleap_actions_ack_seconds",
            "From Gleap's 2xx to its acknowledgement committed in the queue: a kill -9 in this window sends"
            " the request again after the restart",
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self.concurrency = Gauge(
            "gleap_actions_concurrency_limit",
            "Current adaptive limit on requests in flight",
            ["destination"],
            registry=r,
        )
        self.rate = Gauge(
            "gleap_actions_rate_limit_requests_per_minute",
            "Requests per minute a Gleap endpoint's bucket allows now (lower than configured after a 429)",
            ["destination", "endpoint"],
            registry=r,
        )
        self.batch_events = Gauge(
            "gleap_actions_batch_events_limit",
            "Most events planned in one batch request now (lower than configured after a 413)",
            ["destination", "mapping"],
            registry=r,
        )
        self.batch_bytes = Gauge(
            "gleap_actions_batch_bytes_limit",
            "Largest batch body planned now, in bytes (lower than configured after a 413)",
            ["destination", "mapping"],
            registry=r,
        )
        self.credentials_paused = Gauge(
            "gleap_actions_credentials_paused",
            "1 while delivery is paused because Gleap rejected the API token (401/403)",
            ["destination"],
            registry=r,
        )
        self.queue = Gauge("gleap_actions_queue", "Queue depth by state", ["state"], registry=r)
        self.retrying = Gauge("gleap_actions_retrying", "Deliveries waiting for a retry", registry=r)
        self.oldest_pending_age = Gauge(
            "gleap_actions_oldest_pending_seconds", "Age of the oldest pending delivery", registry=r
        )
        self.destination_queue = Gauge(
            "gleap_actions_destination_queue",
            "Deliveries of each destination by state (pending, in_flight, dead_letters)",
            ["destination", "state"],
            registry=r,
        )
        self.destination_oldest = Gauge(
            "gleap_actions_destination_oldest_seconds",
            "Age of each destination's oldest waiting or in-flight delivery (0 when none)",
            ["destination"],
            registry=r,
        )
        self._destinations: set[str] = set()  # those with gauges, zeroed when their queue empties

    def observe_stats(self, stats: QueueStats, destinations: Iterable[str] = ()) -> None:
        """Refresh the queue gauges from the store; `destinations` (the configured ones) get per-destination
        gauges even while their queue is empty."""
        self.queue.labels("unrouted").set(stats.unrouted)
        self.queue.labels("pending").set(stats.pending)
        self.queue.labels("in_flight").set(stats.in_flight)
        self.queue.labels("dead_letters").set(stats.dead_letters)
        self.retrying.set(stats.retrying)
        self.oldest_pending_age.set(stats.oldest_pending_age)
        self._destinations.update(destinations, stats.per_destination)
        for name in self._destinations:
            queue = stats.per_destination.get(name, DestinationQueue())
            self.destination_queue.labels(name, "pending").set(queue.pending)
            self.destination_queue.labels(name, "in_flight").set(queue.in_flight)
            self.destination_queue.labels(name, "dead_letters").set(queue.dead_letters)
            self.destination_oldest.labels(name).set(queue.oldest_age)
