"""Building requests (Vector's request builder): claimed deliveries -> parsed events -> planned requests.

Planning is CPU work (mapping, validation, request bodies): it runs in a store thread, off the event loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import orjson

from gleap_actions.deliver.batch import Work
from gleap_actions.deliver.batchlimit import BatchLimit
from gleap_actions.deliver.sender import Destination
from gleap_actions.engine.action import Plan, PlannedRequest, Rejection
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.store import Delivery


class RequestBuilder:
    """Plans the requests of one mapping with the destination's current settings, batches no larger
    than the destination is known to accept (`size_limit` events, `body_limit` bytes).

    Claims hand out each user's deliveries together, in event order (`Store.claim_deliveries`). With
    coalescing, a user's events are merged into one request (`Subscription.plan` with `merge`); with
    batching, batches are cut between users where a user's events fit, so that few requests share a
    user (requests that do are sent one after another: `deliver/inorder.py`)."""

    def __init__(self, subscription: Subscription, destination: Destination) -> None:
        self._subscription = subscription
        self._destination = destination
        self.batch = subscription.batching
        self.merge = subscription.coalesce and subscription.action.perform_merged is not None
        self.per_request = max(1, subscription.batch_size) if self.batch or self.merge else 1
        self.size_limit = BatchLimit(self.per_request)
        self.body_limit = BatchLimit(subscription.batch_bytes)

    def build(self, claimed: Sequence[Delivery], claimed_at: float) -> tuple[Work, Plan]:
        """Parse the payloads and plan their requests."""
        events = [orjson.loads(d.payload) for d in claimed]
        work = Work(list(claimed), events, claimed_at)
        return work, self._plan(work, self.batch)

    def rebuild(self, work: Work) -> Plan:
        """Plan part of a batch again, as a batch (to isolate bad events after a 400 or a 413)."""
        return self._plan(work, True)

    def _plan(self, work: Work, batch: bool) -> Plan:
        settings = self._destination.settings
        subscription = self._subscription
        if self.merge:
            return subscription.plan(work.events, settings, False, merge=True)
        if not batch or subscription.action.perform_batch is None:
            return subscription.plan(work.events, settings, batch)
        size = self.size_limit.current
        requests: list[PlannedRequest] = []
        rejections: list[Rejection] = []
        for chunk in user_chunks([d.user for d in work.deliveries], size):
            plan = subscription.plan(
                [work.events[i] for i in chunk],
                settings,
                True,
                batch_size=size,
                batch_bytes=self.body_limit.current,
            )
            requests.extend(PlannedRequest(p.request, [chunk[i] for i in p.indices]) for p in plan.requests)
            rejections.extend(replace(r, index=chunk[r.index]) for r in plan.rejections)
        return Plan(requests, rejections)


def user_chunks(users: Sequence[str | None], size: int) -> list[list[int]]:
    """The positions of `users` (each user's together) cut into chunks of at most `size`, between two
    users wherever a user's run fits in one chunk."""
    chunks: list[list[int]] = []
    current: list[int] = []
    start = 0
    while start < len(users):
        end = start + 1
        while end < len(users) and users[end] is not None and users[end] == users[start]:
            end += 1
        for piece in range(start, end, size):
            run = list(range(piece, min(end, piece + size)))
            if current and len(current) + len(run) > size:
                chunks.append(current)
                current = []
            current.extend(run)
        start = end
    if current:
        chunks.append(current)
    return chunks
