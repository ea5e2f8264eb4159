"""Building requests (Vector's request builder): claimed deliveries -> parsed events -> planned requests.

Planning is CPU work (mapping, validation, request bodies): it runs in a store thread, off the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from gleap_actions.deliver.batch import Work
from gleap_actions.deliver.batchlimit import BatchLimit
from gleap_actions.deliver.sender import Destination
from gleap_actions.engine.action import Plan
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.store import Delivery


class RequestBuilder:
    """Plans the requests of one mapping with the destination's current settings, batches no larger
    than the destination is known to accept (`size_limit` events, `body_limit` bytes)."""

    def __init__(self, subscription: Subscription, destination: Destination) -> None:
        self._subscription = subscription
        self._destination = destination
        self.batch = subscription.batching
        self.per_request = max(1, subscription.batch_size) if self.batch else 1
        self.size_limit = BatchLimit(self.per_request)
        self.body_limit = BatchLimit(subscription.batch_bytes)

    def build(self, claimed: Sequence[Delivery], claimed_at: float) -> tuple[Work, Plan]:
        """Parse the payloads and plan their requests."""
        events = [orjson.loads(d.payload) for d in claimed]
        work = Work(list(claimed), events, claimed_at)
        return work, self._plan(events, self.batch)

    def rebuild(self, work: Work) -> Plan:
        """Plan part of a batch again, as a batch (to isolate bad events after a 400 or a 413)."""
        return self._plan(work.events, True)

    def _plan(self, events: Sequence[dict[str, Any]], batch: bool) -> Plan:
        settings = self._destination.settings
        return self._subscription.plan(
            events, settings, batch, batch_size=self.size_limit.current, batch_bytes=self.body_limit.current
        )
