"""Delivery of one mapping: the driver that runs the steps in order, like a Vector sink's.

claim and batch (`batch.Claimer`) -> build requests (`request.RequestBuilder`; per-event rejections are
dead-lettered at once) -> for each chain of requests (`inorder.chains`: requests sharing a user, sent one
after another), a task: send and classify (`sender.Sender` -> `outcome.Outcome`) -> record the outcome
(`record.Recorder`). A batch answered 400 (a bad event) or 413 (too large) is split in halves,
recursively, so only the bad or oversize events are dead-lettered (halves sharing a user go in order); the
sizes (events and bytes) a 413 refused and a success accepted are learned (`batchlimit.BatchLimit`) so
later batches are planned small enough at once and grow back when the destination takes more. A request
waits for its turn at its Gleap endpoint's bucket as this mapping (`budget.FairBucket`), before others
when it carries only audience identifies and the destination gives those priority.

Store calls are synchronous and run in a worker thread; this module never blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

from gleap_actions.compute.identify import is_engage
from gleap_actions.deliver.ackcommit import AckCommit
from gleap_actions.deliver.batch import Claimer, Work
from gleap_actions.deliver.inorder import chains, send_chain
from gleap_actions.deliver.metrics import PipelineMetrics
from gleap_actions.deliver.outcome import Delivered, Outcome, Rejected
from gleap_actions.deliver.outcomes import DeliveryOutcomes
from gleap_actions.deliver.record import Observe, Recorder
from gleap_actions.deliver.request import RequestBuilder
from gleap_actions.deliver.retry import RetryPolicy
from gleap_actions.deliver.sender import Sender
from gleap_actions.deliver.store_calls import StoreCalls
from gleap_actions.engine.action import Request
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.store import Delivery, Store

log = logging.getLogger(__name__)

SPLIT_STATUSES = frozenset({400, 413})  # a bad event in the batch; the batch is too large


@dataclass(frozen=True, slots=True)
class DeliveryParts:
    """What every mapping's delivery shares: one queue, one destination, one budget."""

    store: Store
    run: StoreCalls
    ack: AckCommit
    sender: Sender
    policy: RetryPolicy
    metrics: PipelineMetrics
    outcomes: DeliveryOutcomes
    owner: str
    linger: float
    lease: float
    claim_limit: int
    poll_interval: float
    observe: Observe | None = None  # sees every request's outcome (the console's live view)


class MappingDelivery:
    """The delivery loop of one mapping (`Subscription`)."""

    def __init__(self, subscription: Subscription, parts: DeliveryParts, *, key: str | None = None) -> None:
        self.name = key or subscription.name  # the delivery key (`route.delivery_key`)
        self._parts = parts
        self._sender = parts.sender
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._builder = RequestBuilder(subscription, parts.sender.destination)
        labels = (parts.sender.destination.name, subscription.name)
        self._size_gauge = parts.metrics.batch_events.labels(*labels)
        self._bytes_gauge = parts.metrics.batch_bytes.labels(*labels)
        if self._builder.batch:
            self._size_gauge.set(self._builder.size_limit.current)
            self._bytes_gauge.set(self._builder.body_limit.current)
        self._audience_priority = parts.sender.budget.audience_priority
        self._claimer = Claimer(
            parts.store,
            parts.run,
            mapping=self.name,
            owner=parts.owner,
            lease=parts.lease,
            per_request=self._builder.per_request,
            linger=parts.linger,
            stopping=self._stopping,
        )
        self._recorder = Recorder(
            self.name,
            parts.store,
            parts.run,
            ack=parts.ack,
            claimer=self._claimer,
            policy=parts.policy,
            gate=parts.sender.gate,
            budget=parts.sender.budget,
            metrics=parts.metrics,
            outcomes=parts.outcomes,
            lease=parts.lease,
            stopping=self._stopping,
            labels=labels,
            observe=parts.observe,
        )

    def wake(self) -> None:
        """New deliveries may be due (the router just routed some)."""
        self._wake.set()

    async def run(self) -> None:
        """Claim and send until `stop_claiming`; a failing store call is logged and retried."""
        while not self._stopping.is_set():
            try:
                await self._step()
            except Exception:
                log.exception("event=delivery_loop_failed mapping=%s", self.name)
                await self._idle(1.0)

    async def _step(self) -> None:
        """One pass: wait for room, claim (lingering on a partial batch), dispatch."""
        parts = self._parts
        # Cleared before looking for work, not when idling after: a wake-up that comes while the claim
        # runs (in a thread) is kept, and the next idle returns at once instead of waiting a whole poll.
        self._wake.clear()
        await self._wait_for_room()
        if self._stopping.is_set():
            return
        if self._sender.gate.paused:
            await self._idle(parts.poll_interval)
            return
        free = max(1, self._room() - len(self._tasks))
        limit = min(parts.claim_limit, free * self._builder.per_request)
        # Merged requests: one per user, so claim whole queues of as many users as can be sent.
        users = free if self._builder.merge else None
        claimed = await self._claimer.claim(limit, batch=self._builder.batch, users=users)
        if not claimed:
            await self._idle(parts.poll_interval)
            return
        if self._stopping.is_set():
            await self._recorder.release([d.id for d in claimed])
            return
        await self._dispatch(claimed)

    def stop_claiming(self) -> None:
        """Claim nothing more; tasks in flight carry on."""
        self._stopping.set()

    async def finish(self, timeout: float) -> None:
        """Wait up to `timeout` for requests in flight, cancel the rest and release their work."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=max(0.0, timeout))
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._claimer.held:
            await self._recorder.release(list(self._claimer.held))

    def _room(self) -> int:
        """How many requests this mapping may have under way: those in flight (the concurrency limit)
        and about a second's worth waiting for tokens, so that a round trip (record, claim, plan) never
        leaves the rate budget unused while the concurrency limit is low."""
        return self._sender.concurrency.limit + self._sender.budget.tokens_per_second

    async def _wait_for_room(self) -> None:
        """Claim no more than can be sent soon: leases must not expire in a local queue."""
        while len(self._tasks) >= self._room() and not self._stopping.is_set():
            stop = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait({*self._tasks, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()

    async def _idle(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    async def _dispatch(self, claimed: list[Delivery]) -> None:
        try:
            work, plan = await self._parts.run(self._builder.build, claimed, time.monotonic())
        except Exception as err:  # a bug in planning: retry like a failed send, dead-letter in the end
            log.exception("event=plan_failed mapping=%s events=%d", self.name, len(claimed))
            await self._recorder.retry(None, Work(claimed, [], time.monotonic()), err, None)
            return
        await self._recorder.rejections(work, plan)
        items = [(p.request, work.subset(p.indices)) for p in plan.requests]
        for chain in chains([w for _, w in items]):
            task = asyncio.create_task(self._guarded([items[i] for i in chain]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _guarded(self, chain: list[tuple[Request, Work]]) -> None:
        """Send a chain of requests in order, logging a failure to record an outcome (the store refused
        a write): the deliveries stay claimed and their lease expiry makes them due again, so nothing is
        lost."""
        try:
            await send_chain(chain, self._deliver, self._give_back)
        except Exception:
            events = sum(len(w.deliveries) for _, w in chain)
            log.exception("event=record_outcome_failed mapping=%s events=%d", self.name, events)

    async def _give_back(self, work: Work) -> None:
        await self._recorder.release(work.ids)

    async def _deliver(self, request: Request, work: Work) -> bool:
        """Send one request and record its outcome (split and recurse on a batch 400 or 413). Returns
        whether its events settled (delivered or dead-lettered)."""
        priority = self._audience_priority and all(is_engage(e) for e in work.events)
        outcome = await self._sender.send(
            request,
            claimed_at=work.claimed_at,
            mapping=self.name,
            events=len(work.deliveries),
            priority=priority,
        )
        size = len(request.body or b"")
        self._learn(outcome, size, len(work.deliveries))
        if (
            isinstance(outcome, Rejected)
            and outcome.error.status in SPLIT_STATUSES
            and len(work.deliveries) > 1
        ):
            self._recorder.count(work, "final")
            return await self._split(work, outcome.error.status, size)
        return await self._recorder.record(outcome, request, work)

    def _learn(self, outcome: Outcome, size: int, events: int) -> None:
        """Learn the batch limits from a batch's answer (a lone event's 413 says nothing of counts)."""
        if not self._builder.batch:
            return
        builder = self._builder
        if isinstance(outcome, Delivered):
            builder.body_limit.accepted(size)
            builder.size_limit.accepted(events)
        elif isinstance(outcome, Rejected) and outcome.error.status == 413:
            # One 413 does not say whether the count or the bytes were too many: a batch of more events
            # than was ever accepted teaches the count, any other the bytes (a lone event's, always).
            if events > max(1, builder.size_limit.proven):
                builder.size_limit.refused(events)
            else:
                builder.body_limit.refused(size)
        else:
            return
        self._size_gauge.set(builder.size_limit.current)
        self._bytes_gauge.set(builder.body_limit.current)

    async def _split(self, work: Work, status: int | None, size: int) -> bool:
        """A batch answered 400 or 413: plan and send each half on its own to isolate the bad or oversize
        events (a half may be planned in more requests when the learned body limit says so); requests
        sharing a user go in order. Returns whether every event settled."""
        log.info(
            "event=batch_split mapping=%s events=%d status=%s bytes=%d limit_events=%d limit_bytes=%d",
            self.name,
            len(work.deliveries),
            status,
            size,
            self._builder.size_limit.current,
            self._builder.body_limit.current,
        )
        items: list[tuple[Request, Work]] = []
        for half in work.halves():
            plan = await self._parts.run(self._builder.rebuild, half)
            await self._recorder.rejections(half, plan)
            items.extend((p.request, half.subset(p.indices)) for p in plan.requests)
        jobs = [
            send_chain([items[i] for i in chain], self._deliver, self._give_back)
            for chain in chains([w for _, w in items])
        ]
        return all(await asyncio.gather(*jobs))
