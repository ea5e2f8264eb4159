"""The delivery pipeline: router, one lane per destination (a delivery loop per mapping), retention and
queue metrics; `reconfigure` applies a reloaded configuration.

`Pipeline` is what `serve` (and a future `send`) runs: `await start()`, `await stop(timeout)`.
Store calls are synchronous; they run in a small dedicated thread pool so the loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import random
import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from gleap_actions import events
from gleap_actions.config import DeliveryConfig
from gleap_actions.config.topology import DEFAULT, DestinationConfig, SourceConfig
from gleap_actions.deliver import discard
from gleap_actions.deliver.budget import Budget
from gleap_actions.deliver.concurrency import AdaptiveConcurrency
from gleap_actions.deliver.gate import CredentialsGate
from gleap_actions.deliver.lane import Lane
from gleap_actions.deliver.metrics import PipelineMetrics
from gleap_actions.deliver.outcomes import DeliveryOutcomes
from gleap_actions.deliver.ratelimit import Limiter
from gleap_actions.deliver.record import Observe
from gleap_actions.deliver.sender import SendFn
from gleap_actions.deliver.store_calls import StoreCalls
from gleap_actions.destinations.gleap import client
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.owners import owner_alive, owner_name
from gleap_actions.queue.store import DEFAULT_LEASE, DEFAULT_RETENTION, NewEvent, QueueStats, Store
from gleap_actions.route import Router, RouteResult, Routing

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tuning:
    """How the pipeline runs, apart from the delivery settings users configure (`DeliveryConfig`).

    `owner` names this process in leases (a fresh name by default); `retention` is how long delivered
    events are kept (`StorageConfig.retention`); `probe_interval` is how often paused delivery tries
    again; `jitter` draws the random part of retry delays (a fresh source per destination by default;
    a seeded one makes the delays reproducible); the rest are intervals and sizes of the loops.
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
    jitter: random.Random | None = None


class Pipeline:
    """Routes stored events to destinations' mappings and delivers them, one `Lane` per destination.

    Built with `subscriptions`, `settings` and `delivery_config`, it is the single destination `default`;
    with `destinations` (and `sources`), those are ignored and each destination gets its own lane.
    `send` (default `destinations.gleap.client.send`) and `delivery_enabled` (the integrations object)
    can be replaced by embedders; `registry` receives the metrics (a fresh one by default); `rate` (or
    `rates`, per destination) replaces the in-process limits: one limiter for both Gleap endpoints, or a
    mapping of "identify" and "track" to limiters (e.g. ones shared by every node of a queue:
    `Backend.shared_limiter`);
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
        rate: Limiter | Mapping[str, Limiter | None] | None = None,
        observe: Observe | None = None,
        destinations: Sequence[DestinationConfig] = (),
        sources: Sequence[SourceConfig] = (),
        rates: Callable[[DestinationConfig], Limiter | Mapping[str, Limiter | None] | None] | None = None,
    ) -> None:
        self.store = store
        self.tuning = tuning
        self.metrics = PipelineMetrics(registry)
        self.outcomes = DeliveryOutcomes()
        self.owner = tuning.owner or owner_name()
        self._send = send
        self._observe = observe
        self._session = session
        self._own_session = session is None
        self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gleap-store")
        if not destinations:
            destinations = (DestinationConfig(DEFAULT, settings, tuple(subscriptions), delivery_config),)
            rates = rates or (lambda _: rate)
        if not sources:
            sources = (SourceConfig(DEFAULT, (), tuple(d.name for d in destinations)),)
        self._rates = rates or (lambda _: None)
        self.lanes: dict[str, Lane] = {d.name: self._lane(d) for d in destinations}
        self.router = Router(
            store,
            Routing.of(sources, destinations),
            delivery_enabled,
            owner=self.owner,
            batch=tuning.route_batch,
            lease=tuning.lease,
        )
        self._loops: list[asyncio.Task[None]] = []
        self._route_wake: asyncio.Event | None = None
        self._started = False
        self._stopping = False

    def _lane(self, config: DestinationConfig) -> Lane:
        return Lane(
            config,
            rate=self._rates(config),
            metrics=self.metrics,
            outcomes=self.outcomes,
            probe_interval=self.tuning.probe_interval,
            observe=self._observe,
            jitter=self.tuning.jitter,
        )

    @property
    def first(self) -> Lane:
        """The first destination's lane (the only one in the single-destination form)."""
        return next(iter(self.lanes.values()))

    @property
    def subscriptions(self) -> tuple[Subscription, ...]:
        """The first destination's enabled mappings."""
        return self.first.subscriptions

    @property
    def settings(self) -> GleapSettings:
        """The first destination's settings in use."""
        lane = self.first
        return lane.destination.settings if lane.destination else lane.config.gleap

    @property
    def gate(self) -> CredentialsGate:
        """The first destination's credentials gate."""
        return self.first.gate

    @property
    def concurrency(self) -> AdaptiveConcurrency:
        """The first destination's adaptive concurrency."""
        return self.first.concurrency

    @property
    def budget(self) -> Budget:
        """The first destination's rate budget."""
        return self.first.budget

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
        # Work held by a killed process of this host is due again now, not when its lease expires.
        released = await self.run(self.store.release_orphans, owner_alive)
        if released:
            log.warning("event=orphaned_work_released count=%d", released)
        for lane in self.lanes.values():
            self._start_lane(lane)
        self._started = True
        await self.report_unconfigured()
        self._spawn(self._route_loop(), "router")
        self._spawn(self._stats_loop(), "stats")
        self._spawn(self._retention_loop(), "retention")
        log.info(
            "event=pipeline_started owner=%s destinations=%d mappings=%d",
            self.owner,
            len(self.lanes),
            sum(len(lane.workers) for lane in self.lanes.values()),
        )

    def _start_lane(self, lane: Lane) -> None:
        assert self._session is not None
        lane.start(
            store=self.store,
            run=self.run,
            session=self._session,
            send=self._send,
            owner=self.owner,
            lease=self.tuning.lease,
            claim_limit=self.tuning.claim_limit,
            poll_interval=self.tuning.poll_interval,
        )

    @property
    def configured(self) -> frozenset[str]:
        """The delivery keys the lanes deliver."""
        return frozenset().union(*(lane.keys for lane in self.lanes.values()))

    async def unconfigured(self) -> dict[str, int]:
        """Delivery keys with deliveries waiting that no configured mapping delivers (a destination
        or mapping removed or disabled), with their counts: kept until discarded on purpose."""
        return await self.run(discard.unconfigured, self.store, self.configured)

    async def discard(self, key: str) -> int:
        """Move every waiting delivery of `key`, which no configured mapping delivers, to the dead letters
        (`deliver/discard.py`). Returns how many; ValueError when a configured mapping delivers `key`."""
        if key in self.configured:
            raise ValueError(f"{key!r} is delivered by a configured mapping")
        return await self.run(
            functools.partial(discard.discard, self.store, key, owner=self.owner, lease=self.tuning.lease)
        )

    async def report_unconfigured(self) -> dict[str, int]:
        """`unconfigured`, each logged as a warning."""
        waiting = await self.unconfigured()
        for key, count in waiting.items():
            log.warning("event=deliveries_without_mapping mapping=%s waiting=%d", key, count)
        return waiting

    async def reconfigure(
        self, destinations: Sequence[DestinationConfig], sources: Sequence[SourceConfig]
    ) -> dict[str, int]:
        """Apply a reloaded configuration without a restart: new routing for events routed from now on,
        a lane started for each new or changed destination (the old one stops claiming first and gives
        back what it has not sent, so nothing is lost or sent twice), settings updated in place for
        destinations whose mappings and delivery settings did not change. Returns `unconfigured()`."""
        fresh_routing = Routing.of(sources, destinations)
        # Events accepted with a write key this reload removes may still be unrouted (an ingest-only node
        # stored them): they go where that key's source fed before, never nowhere.
        before = self.router.routing.by_source
        self.router.routing = dataclasses.replace(
            fresh_routing, by_source={**before, **fresh_routing.by_source}
        )
        fresh = {d.name: d for d in destinations}
        deadline = time.monotonic() + self.tuning.lease / 4
        for name in list(self.lanes):
            lane = self.lanes[name]
            config = fresh.get(name)
            if config is not None and _same_delivery(lane.config, config):
                lane.config = config
                lane.resume(config)
                continue
            del self.lanes[name]
            await lane.stop(deadline)
        for name, config in fresh.items():
            if name not in self.lanes:
                lane = self._lane(config)
                self.lanes[name] = lane
                if self._started:
                    self._start_lane(lane)
        self.notify()
        return await self.report_unconfigured()

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
        """Resume delivery paused by a credentials failure (every destination), with the reloaded
        `settings` of the first destination if given."""
        for lane in self.lanes.values():
            if settings is not None and lane is self.first:
                lane.config = dataclasses.replace(lane.config, gleap=settings)
                lane.resume(lane.config)
            else:
                lane.resume()

    async def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop: claim nothing more, let requests in flight finish for up to `timeout`
        seconds, release what is left (no attempt counted), then close."""
        if self._stopping:
            return
        self._stopping = True
        deadline = time.monotonic() + timeout
        self.notify()
        background = [t for t in self._loops if t.get_name() in ("stats", "retention")]
        for task in background:
            task.cancel()
        await asyncio.gather(*(lane.stop(deadline) for lane in self.lanes.values()))
        await asyncio.gather(*self._loops, return_exceptions=True)
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
            self._route_wake.clear()  # before routing: a notify that comes meanwhile is not lost
            try:
                result = await self.run(self.router.route_batch)
            except Exception:
                log.exception("event=route_failed")
                await asyncio.sleep(1.0)
                continue
            if result.claimed:
                self._count_routes(result)
                continue
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
            for lane in self.lanes.values():
                lane.wake()

    async def _stats_loop(self) -> None:
        """Refresh the queue gauges every `stats_interval`, or less often when counting takes long: the
        counts grow with the queue, and a deep backlog must not spend more than about 2% of a core on them."""
        while True:
            started = time.monotonic()
            try:
                stats = await self.run(self.store.stats, time.time())
                self.metrics.observe_stats(stats, self.lanes)
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


def _same_delivery(old: DestinationConfig, new: DestinationConfig) -> bool:
    """Whether a reloaded destination delivers as before (only its Gleap settings other than the token may
    differ). A new token may be another Gleap project, whose rate budget is not the old one's (a shared
    limiter is keyed by the token): the lane is replaced, with a limiter of the new token."""
    if old.delivery != new.delivery or len(old.subscriptions) != len(new.subscriptions):
        return False
    if old.gleap.api_token != new.gleap.api_token:
        return False
    return all(
        _settings(a) == _settings(b) for a, b in zip(old.subscriptions, new.subscriptions, strict=True)
    )


def _settings(m: Subscription) -> tuple[object, ...]:
    """What a mapping's section of the config file sets: a reload that changes any of it replaces the lane."""
    return (
        m.name,
        m.action.name,
        m.enabled,
        m.trigger_text,
        m.mapping_config,
        m.coalesce,
        m.batching,
        m.batch_size,
        m.batch_bytes,
    )
