"""Per-mapping outcomes over time, sampled from the process's delivery metrics.

Every `interval` seconds the counters of `deliver.metrics` are read and the increase since the previous
sample is added to two rings of buckets: the last hour in 1-minute buckets and the last day in 15-minute
buckets (160 small dicts in all, whatever the traffic). Nothing is read from the store, so the charts cost
the same with an empty queue or a deep one. They cover this process since it started: a restart starts
them again, and each node of a cluster charts its own deliveries.

States: delivered; retrying (attempts that failed and will be tried again); failed (attempts refused for
good, or refused credentials); dead_lettered; filtered (events no mapping took, under the mapping name
`FILTERED`, since filtering happens before any mapping).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from gleap_actions.config.topology import DEFAULT
from gleap_actions.route import delivery_key

STATES = ("delivered", "retrying", "failed", "dead_lettered", "filtered")
FILTERED = ""  # the "mapping" filtered events are counted under

# `gleap_actions_failed_attempts` kind -> state
_FAILED_KINDS = {
    "retryable": "retrying",
    "unexpected": "retrying",
    "final": "failed",
    "credentials": "failed",
}

Key = tuple[str, str]  # (mapping, state), or (mapping, "latency_ms" | "latency_count")


@dataclass(frozen=True, slots=True)
class Span:
    """A chart's time span: `buckets` buckets of `width` seconds."""

    name: str
    width: float
    buckets: int


HOUR = Span("hour", 60.0, 60)
DAY = Span("day", 900.0, 96)


@dataclass(frozen=True, slots=True)
class Series:
    """Counts per bucket for one span, oldest first: `counts[mapping][state][i]` is bucket `starts[i]`."""

    span: Span
    starts: list[float]
    counts: dict[str, dict[str, list[int]]]


def read_counters(registry: CollectorRegistry) -> Counter[Key]:
    """The delivery counters now, by (mapping, state), plus request latency sums (ms) and counts."""
    out: Counter[Key] = Counter()
    for metric in registry.collect():
        for sample in metric.samples:
            labels = sample.labels
            if sample.name == "gleap_actions_filtered_events_total":
                out[FILTERED, "filtered"] += int(sample.value)
                continue
            if "mapping" not in labels:
                continue
            # As the queue names it: `destination/mapping`, or the mapping alone for `default`.
            key = delivery_key(labels.get("destination", DEFAULT), labels["mapping"])
            if sample.name == "gleap_actions_delivered_total":
                out[key, "delivered"] += int(sample.value)
            elif sample.name == "gleap_actions_failed_attempts_total":
                out[key, _FAILED_KINDS.get(labels["kind"], "failed")] += int(sample.value)
            elif sample.name == "gleap_actions_dead_lettered_total":
                out[key, "dead_lettered"] += int(sample.value)
            elif sample.name == "gleap_actions_request_seconds_sum":
                out[key, "latency_ms"] += round(sample.value * 1000)
            elif sample.name == "gleap_actions_request_seconds_count":
                out[key, "latency_count"] += int(sample.value)
    return out


def read_gauge(registry: CollectorRegistry, name: str) -> float | None:
    """A gauge's value summed over its labels (every destination), or None when it has no sample (an
    ingest-only node)."""
    values = [s.value for m in registry.collect() for s in m.samples if s.name == name]
    return sum(values) if values else None


def read_gauges(registry: CollectorRegistry, name: str) -> dict[str, float]:
    """A gauge's value per destination (its `destination` label); empty when it has no sample."""
    return {
        s.labels["destination"]: s.value
        for m in registry.collect()
        for s in m.samples
        if s.name == name and "destination" in s.labels
    }


class Activity:
    """Rings of per-mapping outcome counts, fed by sampling `registry`."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        interval: float = 5.0,
        also: Callable[[float], object] = lambda _now: None,
    ) -> None:
        self._registry = registry
        self._interval = interval
        self._also = also  # another sampler run on the same tick (the audiences page's member counts)
        self._last: Counter[Key] = read_counters(registry)
        self._rings: dict[str, deque[tuple[float, Counter[Key]]]] = {
            span.name: deque(maxlen=span.buckets) for span in (HOUR, DAY)
        }
        self._task: asyncio.Task[None] | None = None

    def sample(self, now: float | None = None) -> Counter[Key]:
        """Add what happened since the last sample to the current buckets; returns the counters now."""
        now = time.time() if now is None else now
        current = read_counters(self._registry)
        delta = Counter({key: value - self._last[key] for key, value in current.items()})
        delta = +delta  # drop zeros
        self._last = current
        for span in (HOUR, DAY):
            ring = self._rings[span.name]
            start = now - now % span.width
            if not ring or ring[-1][0] != start:
                ring.append((start, Counter()))
            ring[-1][1].update(delta)
        self._also(now)
        return current

    def series(self, span: Span, mappings: list[str], now: float | None = None) -> Series:
        """The last `span` of counts for `mappings` (and the filtered events), empty buckets included."""
        now = time.time() if now is None else now
        self.sample(now)
        last = now - now % span.width
        starts = [last - span.width * i for i in range(span.buckets - 1, -1, -1)]
        by_start = dict(self._rings[span.name])
        counts: dict[str, dict[str, list[int]]] = {}
        for mapping in [*mappings, FILTERED]:
            states = ("filtered",) if mapping == FILTERED else STATES[:-1]
            counts[mapping] = {
                state: [int(by_start.get(start, Counter())[mapping, state]) for start in starts]
                for state in states
            }
        return Series(span, starts, counts)

    def latency(self, mapping: str) -> float | None:
        """Mean Gleap request latency of `mapping` over the last minute-bucket with requests, in seconds."""
        for _start, bucket in reversed(self._rings[HOUR.name]):
            count = bucket[mapping, "latency_count"]
            if count:
                return bucket[mapping, "latency_ms"] / count / 1000
        return None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            self.sample()

    def start(self) -> None:
        """Sample in the background (on the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="console-activity")

    async def stop(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
