"""The delivery pipeline: router, one delivery loop per mapping, retention and queue metrics.

`Pipeline` is what `serve` (and a future `send`) runs: `await start()`, `await stop(timeout)`.
Store calls are synchronous; they run in a small dedicated thread pool so the loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from gleap_actions import events
from gleap_actions.config import DeliveryConfig
from gleap_actions.deliver.ackcommit import AckCommit
from gleap_actions.deliver.concurrency import AdaptiveConcurrency
from gleap_actions.deliver.delivery import DeliveryParts, MappingDelivery
from gleap_actions.deliver.gate import CredentialsGate
from gleap_actions.deliver.metrics import PipelineMetrics
from gleap_actions.deliver.outcomes import DeliveryOutcomes
from gleap_actions.deliver.ratelimit import Limiter, RateLimiter
from gleap_actions.deliver.record import Observe
from gleap_actions.deliver.retry import RetryPolicy
from gleap_actions.deliver.sender import Destination, Sender, SendFn
from gleap_actions.deliver.store_calls import StoreCalls
from gleap_actions.destinations.gleap import client
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.owners import owner_alive, owner_name
from gleap_actions.queue.store import DEFAULT_LEASE, DEFAULT_RETENTION, NewEvent, QueueStats, Store
from gleap_actions.route import Router, RouteResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tuning:
    """How the pipeline runs, apart from the delivery settings users configure (`DeliveryConfig`).

    `owner` names this process in leases (a fresh name by default); `retention` is how long delivered
    events are kept (`StorageConfig.retention`); `probe_interval` is how often paused delivery tries
    again; the rest are intervals and sizes of the loops.
    """

    owner: str | None = None
    retention: float = DEFAULT_RETENTION
    lease: float = DEFAULT_LEASE
    probe_interval: float = 30.0
    poll_interval: float = 0.05
    route_batch: int = 5000
    claim_limit: int = 5000
    stats_interval: float = 1.0
    retention_interval: float = 60.0


class Pipeline:
    """Routes stored events to mappings and delivers them to the destination.

    `send` (default `destinations.gleap.client.send`) and `delivery_enabled` (the integrations object)
    can be replaced by embedders; `registry` receives the metrics (a fresh one by default); `rate`
    replaces the in-process limit (e.g. one shared by every node of a queue: `Backend.shared_limiter`);
    `observe` sees every request's outcome (the console's live view).
    """

    def __init__(
        self,
        store: Store,
        subscriptions: Sequence[Subscription],
        settings: GleapSettings,
        delivery_config: DeliveryConfig,
        *,
        tuning: Tuning = Tuning(),
        send: SendFn = client.send,
        delivery_enabled: Callable[[Mapping[str, Any]], bool] = events.delivery_enabled,
        session: aiohttp.ClientSession | None = None,
        registry: CollectorRegistry | None = None,
        rate: Limiter | None = None,
        observe: Observe | None = None,
    ) -> None:
        self.store = store
        self.subscriptions = tuple(s for s in subscriptions if s.enabled)
        self.config = delivery_config
        self.tuning = tuning
        self.metrics = PipelineMetrics(registry)
        self.outcomes = DeliveryOutcomes()
        self.owner = tuning.owner or owner_name()
        self._initial_settings = settings
        self._send = send
        self._observe = observe
        self._session = session
        self._own_session = session is None
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gleap-store")
        self.router = Router(
            store,
            self.subscriptions,
            delivery_enabled,
            owner=self.owner,
            batch=tuning.route_batch,
            lease=tuning.lease,
        )
        self.concurrency = AdaptiveConcurrency(max(1, delivery_config.max_concurrency))
        self.rate = rate or RateLimiter(delivery_config.requests_per_minute)
        self.policy = RetryPolicy(
            initial_backoff=delivery_config.initial_backoff,
            max_backoff=delivery_config.max_backoff,
            window=delivery_config.retry_window,
        )
        self.gate: CredentialsGate | None = None
        self._destination: Destination | None = None
        self._workers: list[MappingDelivery] = []
        self._loops: list[asyncio.Task[None]] = []
        self._route_wake: asyncio.Event | None = None
        self._stopping = False

    @property
    def settings(self) -> GleapSettings:
        """The destination's settings in use."""
        return self._destination.settings if self._destination else self._initial_settings

    @property
    def run(self) -> StoreCalls:
        """Runs a synchronous store call in the pipeline's store threads."""
        loop = asyncio.get_running_loop()
        return StoreCalls(lambda fn: loop.run_in_executor(self._executor, fn))

    async def start(self) -> None:
        """Start routing, delivery, retention and metrics tasks."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._route_wake = asyncio.Event()
        tuning = self.tuning
        self.gate = CredentialsGate(self.metrics, probe_interval=tuning.probe_interval)
        self._destination = Destination(self._initial_settings, self._session, self._send)
        run = self.run
        sender = Sender(
            self._destination,
            rate=self.rate,
            concurrency=self.concurrency,
            gate=self.gate,
            metrics=self.metrics,
            lease=tuning.lease,
        )
        parts = DeliveryParts(
            store=self.store,
            run=run,
            ack=AckCommit(lambda ids: run(self.store.ack, ids)),
            sender=sender,
            policy=self.policy,
            metrics=self.metrics,
            outcomes=self.outcomes,
            owner=self.owner,
            linger=self.config.linger,
            lease=tuning.lease,
            claim_limit=tuning.claim_limit,
            poll_interval=tuning.poll_interval,
            observe=self._observe,
        )
        self._workers = [MappingDelivery(sub, parts) for sub in self.subscriptions]
        self.metrics.concurrency.set(self.concurrency.limit)
        # Work held by a killed process of this host is due again now, not when its lease expires.
        released = await self.run(self.store.release_orphans, owner_alive)
        if released:
            log.warning("event=orphaned_work_released count=%d", released)
        due = await self.run(self.store.due_mappings, time.time())
        for name in sorted(set(due) - {w.name for w in self._workers}):
            # Routed under a mapping that is now disabled or gone: they wait until it is back.
            log.warning("event=deliveries_without_mapping mapping=%s due=%d", name, due[name])
        self._spawn(self._route_loop(), "router")
        for worker in self._workers:
            self._spawn(worker.run(), f"delivery:{worker.name}")
        self._spawn(self._stats_loop(), "stats")
        self._spawn(self._retention_loop(), "retention")
        log.info(
            "event=pipeline_started owner=%s mappings=%d max_concurrency=%d requests_per_minute=%d",
            self.owner,
            len(self._workers),
            self.concurrency.max_limit,
            self.config.requests_per_minute,
        )

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._loops.append(asyncio.create_task(coro, name=name))

    def committed(self, events: Sequence[NewEvent], accepted: Sequence[bool]) -> None:
        """Ingest committed `events` (`accepted`: `append`'s results): count the routes decided at ingest,
        wake delivery for their deliveries and the router for events stored without a route."""
        result = RouteResult.of_appended(events, accepted)
        self._count_routes(result)
        if any(kept and event.route is None for event, kept in zip(events, accepted, strict=True)):
            self.notify()

    def notify(self) -> None:
        """New events were appended: route them now instead of at the next poll."""
        if self._route_wake is not None:
            self._route_wake.set()

    def resume(self, settings: GleapSettings | None = None) -> None:
        """Resume delivery paused by a credentials failure, with the reloaded `settings` if given."""
        if settings is not None:
            if self._destination is not None:
                self._destination.settings = settings
            else:
                self._initial_settings = settings
        if self.gate is not None:
            self.gate.resume()

    async def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop: claim nothing more, let requests in flight finish for up to `timeout`
        seconds, release what is left (no attempt counted), then close."""
        if self._stopping:
            return
        self._stopping = True
        deadline = time.monotonic() + timeout
        for worker in self._workers:
            worker.stop_claiming()
            worker.wake()
        self.notify()
        background = [t for t in self._loops if t.get_name() in ("stats", "retention")]
        for task in background:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        await asyncio.gather(*(w.finish(deadline - time.monotonic()) for w in self._workers))
        if self.gate is not None:
            self.gate.close()
        if self._own_session and self._session is not None:
            await self._session.close()
        self._executor.shutdown(wait=True)
        log.info("event=pipeline_stopped owner=%s", self.owner)

    async def drain(self, timeout: float = 30.0, *, poll: float = 0.05) -> QueueStats:
        """Wait until nothing is unrouted, pending or in flight (delivered or dead-lettered).
        Raises TimeoutError with the last stats if that does not happen within `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            stats = await self.run(self.store.stats, time.time())
            if stats.unrouted == 0 and stats.pending == 0 and stats.in_flight == 0:
                return stats
            if time.monotonic() >= deadline:
                raise TimeoutError(f"pipeline not drained: {stats}")
            self.notify()
            await asyncio.sleep(poll)

    async def _route_loop(self) -> None:
        assert self._route_wake is not None
        while not self._stopping:
            try:
                result = await self.run(self.router.route_batch)
            except Exception:
                log.exception("event=route_failed")
                await asyncio.sleep(1.0)
                continue
            if result.claimed:
                self._count_routes(result)
                continue
            self._route_wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._route_wake.wait(), self.tuning.poll_interval)

    def _count_routes(self, result: RouteResult) -> None:
        """Count routed and filtered events; wake delivery when there are new deliveries."""
        if result.routed:
            self.metrics.routed.inc(result.routed)
        if result.filtered_integrations:
            self.metrics.filtered.labels("integrations").inc(result.filtered_integrations)
            self.outcomes.record_filtered("integrations", result.filtered_integrations)
        if result.filtered_no_match:
            self.metrics.filtered.labels("no_matching_mapping").inc(result.filtered_no_match)
            self.outcomes.record_filtered("no_matching_mapping", result.filtered_no_match)
        if result.deliveries:
            for worker in self._workers:
                worker.wake()

    async def _stats_loop(self) -> None:
        """Refresh the queue gauges every `stats_interval`, or less often when counting takes long: the
        counts grow with the queue, and a deep backlog must not spend more than about 2% of a core on them."""
        while True:
            started = time.monotonic()
            try:
                self.metrics.observe_stats(await self.run(self.store.stats, time.time()))
            except Exception:
                log.exception("event=stats_failed")
            await asyncio.sleep(max(self.tuning.stats_interval, 50 * (time.monotonic() - started)))

    async def _retention_loop(self) -> None:
        """Delete delivered events older than the retention, a small step at a time."""
        purge = functools.partial(self.store.purge_delivered, limit=1000)
        while True:
            try:
                while await self.run(purge, time.time() - self.tuning.retention) >= 1000:
                    await asyncio.sleep(0.01)  # let ingest in between steps
            except Exception:
                log.exception("event=retention_failed")
            await asyncio.sleep(self.tuning.retention_interval)
