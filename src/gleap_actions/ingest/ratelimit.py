"""Per-write-key rate limit at ingest: one public (browser) write key cannot flood the queue.

A token bucket per write key, counted in events: `burst` tokens, refilled at `events_per_second`. A request
is admitted while its key's bucket is not empty, and takes all its events (the bucket may go below zero), so
a batch larger than the burst still gets through once, and the next requests wait for the debt to be repaid.
A refused request gets 429 with `Retry-After`: the seconds until the bucket holds a token again, which the
Segment libraries honour. The limit is per process: with several ingest nodes each keeps its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Buckets are dropped once full again; this many keys are kept before looking for such buckets (with no
# write keys configured any key is accepted, so the number of keys is not bounded by the config).
_PRUNE_ABOVE = 10_000


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float


class WriteKeyRateLimit:
    """Token buckets keyed by source id (the hash of a write key)."""

    def __init__(self, events_per_second: float, burst: int = 0) -> None:
        if events_per_second <= 0 or burst < 0:
            raise ValueError("events_per_second must be > 0 and burst >= 0")
        self.events_per_second = events_per_second
        # The default lets a page's first seconds through: ten seconds' worth, at least one small batch.
        self.burst = float(burst or max(int(events_per_second * 10), 100))
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, source: str, events: int, now: float) -> int | None:
        """None when the request's `events` may go in (and are counted), else the seconds to wait."""
        bucket = self._buckets.get(source)
        if bucket is None:
            if len(self._buckets) >= _PRUNE_ABOVE:
                self._prune(now)
            bucket = self._buckets[source] = _Bucket(self.burst, now)
        else:
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self.burst, bucket.tokens + elapsed * self.events_per_second)
            bucket.updated = now
        if bucket.tokens < 1.0:
            return max(1, math.ceil((1.0 - bucket.tokens) / self.events_per_second))
        bucket.tokens -= events
        return None

    def _prune(self, now: float) -> None:
        """Forget the buckets that have refilled: they behave exactly like new ones."""
        full = [
            source
            for source, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * self.events_per_second >= self.burst
        ]
        for source in full:
            del self._buckets[source]
