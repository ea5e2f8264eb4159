"""Prometheus counters of the ingest endpoints, registered in the registry given (tests use their own)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class IngestMetrics:
    """Requests by endpoint and status; events accepted by type, rejected by reason, duplicates."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "gleap_actions_ingest_requests",
            "Tracking API requests, by endpoint and HTTP status.",
            ["endpoint", "status"],
            registry=registry,
        )
        self.received = Counter(
            "gleap_actions_ingest_events_received",
            "Events accepted and committed to the queue, by call type.",
            ["type"],
            registry=registry,
        )
        self.rejected = Counter(
            "gleap_actions_ingest_events_rejected",
            "Events refused (invalid, too large, unauthorised, store unavailable...), by reason.",
            ["reason"],
            registry=registry,
        )
        self.duplicates = Counter(
            "gleap_actions_ingest_events_duplicate",
            "Events dropped because their messageId was seen within the dedup window.",
            registry=registry,
        )
