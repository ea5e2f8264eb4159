"""What delivery did, counted as it happens: for a caller that reports on a run (`send`'s summary).

`Pipeline` records every outcome here besides its Prometheus metrics; readers take the figures straight
from these counters (per mapping, per reason) instead of parsing metric samples.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field


@dataclass
class DeliveryOutcomes:
    """Counters of delivered and dead-lettered events, and the last credentials or temporary failure."""

    delivered: Counter[str] = field(default_factory=Counter)  # mapping -> events
    dead_lettered: Counter[tuple[str, str]] = field(default_factory=Counter)  # (mapping, reason) -> events
    filtered: Counter[str] = field(default_factory=Counter)  # integrations | no_matching_mapping -> events
    refused_status: int | None = None  # the last 401/403 (the token was refused)
    last_error: str | None = None  # the last temporary failure (network, timeout, 5xx, 429)
    # monotonic time of the start, or of the last event settled (delivered, or dead-lettered: either way
    # the destination answered, or the event could never be sent)
    last_progress: float = field(default_factory=time.monotonic)

    def record_delivered(self, mapping: str, count: int) -> None:
        """`count` events of `mapping` reached the destination."""
        self.delivered[mapping] += count
        self.last_progress = time.monotonic()

    def record_filtered(self, reason: str, count: int) -> None:
        """`count` events go nowhere by choice (`reason`: integrations object, no matching mapping)."""
        self.filtered[reason] += count

    def record_dead_letter(self, mapping: str, reason: str, count: int) -> None:
        """`count` events of `mapping` failed for good because of `reason`."""
        self.dead_lettered[mapping, reason] += count
        self.last_progress = time.monotonic()

    def record_refused(self, status: int | None) -> None:
        """The destination refused the credentials."""
        self.refused_status = status if status is not None else 401

    def record_temporary(self, error: str) -> None:
        """A request failed in a way that is retried."""
        self.last_error = error
