"""The delivery metrics against docs/metrics.md's table (names, types, labels, help, buckets), and the
queue gauges `observe_stats` sets."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from gleap_actions.deliver.metrics import PipelineMetrics
from gleap_actions.queue.store import DestinationQueue, QueueStats
from metrics_doc import documented, documented_buckets, metric_objects, shown


def test_delivery_metrics_are_the_documented_ones() -> None:
    """/metrics shows exactly the table's metrics with the same type, label names in order and help text,
    and the histograms the listed buckets."""
    doc = documented("Delivery")
    metrics = PipelineMetrics()
    rows, buckets = shown(metrics.registry, metric_objects(metrics), doc)
    assert rows == doc
    documented_histograms = {name: bounds for name, bounds in documented_buckets().items() if name in doc}
    assert buckets == documented_histograms
    assert len(rows) == 18 and len(buckets) == 2


def _gauges(registry: CollectorRegistry) -> dict[tuple[str, tuple[str, ...]], float]:
    """(name, label values) -> value of every queue gauge sample."""
    names = {
        "gleap_actions_queue",
        "gleap_actions_retrying",
        "gleap_actions_oldest_pending_seconds",
        "gleap_actions_destination_queue",
        "gleap_actions_destination_oldest_seconds",
    }
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in registry.collect()
        for sample in family.samples
        if sample.name in names
    }


def test_observe_stats_sets_every_queue_gauge() -> None:
    """Each field lands in its own gauge; a configured destination with nothing queued shows zeros, one
    known only from the stats gets gauges too, and one whose queue emptied is zeroed, not left stale."""
    metrics = PipelineMetrics()
    stats = QueueStats(
        unrouted=1,
        pending=2,
        retrying=3,
        in_flight=4,
        dead_letters=5,
        oldest_pending_age=6.5,
        per_destination={
            "eu": DestinationQueue(pending=7, in_flight=8, dead_letters=9, oldest_age=10.5),
            "old": DestinationQueue(pending=11, in_flight=12, dead_letters=13, oldest_age=14.5),
        },
    )
    metrics.observe_stats(stats, ["eu", "us"])
    assert _gauges(metrics.registry) == {
        ("gleap_actions_queue", ("unrouted",)): 1,
        ("gleap_actions_queue", ("pending",)): 2,
        ("gleap_actions_queue", ("in_flight",)): 4,
        ("gleap_actions_queue", ("dead_letters",)): 5,
        ("gleap_actions_retrying", ()): 3,
        ("gleap_actions_oldest_pending_seconds", ()): 6.5,
        ("gleap_actions_destination_queue", ("eu", "pending")): 7,
        ("gleap_actions_destination_queue", ("eu", "in_flight")): 8,
        ("gleap_actions_destination_queue", ("eu", "dead_letters")): 9,
        ("gleap_actions_destination_oldest_seconds", ("eu",)): 10.5,
        ("gleap_actions_destination_queue", ("old", "pending")): 11,
        ("gleap_actions_destination_queue", ("old", "in_flight")): 12,
        ("gleap_actions_destination_queue", ("old", "dead_letters")): 13,
        ("gleap_actions_destination_oldest_seconds", ("old",)): 14.5,
        ("gleap_actions_destination_queue", ("us", "pending")): 0,
        ("gleap_actions_destination_queue", ("us", "in_flight")): 0,
        ("gleap_actions_destination_queue", ("us", "dead_letters")): 0,
        ("gleap_actions_destination_oldest_seconds", ("us",)): 0,
    }

    emptied = QueueStats(
        unrouted=0, pending=0, retrying=0, in_flight=0, dead_letters=0, oldest_pending_age=0.0
    )
    metrics.observe_stats(emptied)
    gauges = _gauges(metrics.registry)
    assert len(gauges) == 18 and set(gauges.values()) == {0}


def test_the_metrics_go_to_the_registry_given() -> None:
    """The service passes its own registry, the one /metrics shows: the delivery metrics must be in it."""
    registry = CollectorRegistry()
    metrics = PipelineMetrics(registry)
    metrics.retrying.set(3)
    assert metrics.registry is registry
    assert registry.get_sample_value("gleap_actions_retrying") == 3
