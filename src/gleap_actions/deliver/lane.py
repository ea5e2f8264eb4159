"""One destination's delivery: its settings, credentials gate, rate budget, concurrency and mappings.

Each configured destination (one Gleap project) runs in its own lane, so one destination's outage, 401
pause or rate limit never holds another back: they share only the queue and the store threads.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Coroutine, Mapping
from typing import Any

import aiohttp

from gleap_actions.config.topology import DestinationConfig
from gleap_actions.deliver.ackcommit import AckCommit
from gleap_actions.deliver.budget import ENDPOINTS, Budget
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
from gleap_actions.queue.store import Store
from gleap_actions.route import delivery_key

log = logging.getLogger(__name__)


class Lane:
    """The delivery loops of one destination's enabled mappings, with that destination's budget.

    `rate` is the rate limit: one `Limiter` shared by both Gleap endpoints, one per endpoint (a
    mapping of "identify" and "track" to limiters), or None: one in-process limiter per endpoint at
    the configured rates. `jitter` draws the random part of retry delays (a fresh source when None).
    """

    def __init__(
        self,
        config: DestinationConfig,
        *,
        rate: Limiter | Mapping[str, Limiter | None] | None,
        metrics: PipelineMetrics,
        outcomes: DeliveryOutcomes,
        probe_interval: float,
        observe: Observe | None = None,
        jitter: random.Random | None = None,
    ) -> None:
        self._outcomes = outcomes
        self._observe = observe
        self.config = config
        self.name = config.name
        self.subscriptions = tuple(s for s in config.subscriptions if s.enabled)
        delivery = config.delivery
        self.concurrency = AdaptiveConcurrency(max(1, delivery.max_concurrency))
        self.budget = Budget(_limiters(config, rate), audience_priority=delivery.audience_priority)
        self.policy = RetryPolicy(
            initial_backoff=delivery.initial_backoff,
            max_backoff=delivery.max_backoff,
            window=delivery.retry_window,
            rng=random.Random() if jitter is None else jitter,
        )
        self.gate = CredentialsGate(metrics, probe_interval=probe_interval, destination=config.name)
        self._metrics = metrics
        self.destination: Destination | None = None
        self.workers: list[MappingDelivery] = []
        self.tasks: list[asyncio.Task[None]] = []

    @property
    def keys(self) -> frozenset[str]:
        """The delivery keys this lane delivers."""
        return frozenset(delivery_key(self.name, s.name) for s in self.subscriptions)

    def start(
        self,
        *,
        store: Store,
        run: StoreCalls,
        session: aiohttp.ClientSession,
        send: SendFn,
        owner: str,
        lease: float,
        claim_limit: int,
        poll_interval: float,
    ) -> None:
        """Start one delivery loop per enabled mapping (inside a running event loop)."""
        self.destination = Destination(self.config.gleap, session, send, self.name)
        sender = Sender(
            self.destination,
            budget=self.budget,
            concurrency=self.concurrency,
            gate=self.gate,
            metrics=self._metrics,
            lease=lease,
        )
        parts = DeliveryParts(
            store=store,
            run=run,
            ack=AckCommit(lambda ids: run(store.ack, ids)),
            sender=sender,
            policy=self.policy,
            metrics=self._metrics,
            outcomes=self._outcomes,
            owner=owner,
            linger=self.config.delivery.linger,
            lease=lease,
            claim_limit=claim_limit,
            poll_interval=poll_interval,
            observe=self._observe,
        )
        self.workers = [
            MappingDelivery(s, parts, key=delivery_key(self.name, s.name)) for s in self.subscriptions
        ]
        self._metrics.concurrency.labels(self.name).set(self.concurrency.limit)
        for worker in self.workers:
            self._spawn(worker.run(), f"delivery:{worker.name}")

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self.tasks.append(asyncio.create_task(coro, name=name))

    def wake(self) -> None:
        """New deliveries may be due."""
        for worker in self.workers:
            worker.wake()

    def resume(self, config: DestinationConfig | None = None) -> None:
        """Open the credentials gate, with new settings (a reload) if given."""
        if config is not None and self.destination is not None:
            self.destination.settings = config.gleap
        self.gate.resume()

    async def stop(self, deadline: float) -> None:
        """Claim nothing more; what is in flight may finish until `deadline` (monotonic); release the rest."""
        for worker in self.workers:
            worker.stop_claiming()
            worker.wake()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await asyncio.gather(*(w.finish(deadline - time.monotonic()) for w in self.workers))
        self.gate.close()
        self.budget.close()


def _limiters(
    config: DestinationConfig, rate: Limiter | Mapping[str, Limiter | None] | None
) -> dict[str, Limiter]:
    """Each endpoint's limiter: the one given for it, else an in-process one at its configured rate."""
    if rate is not None and not isinstance(rate, Mapping):
        return dict.fromkeys(ENDPOINTS, rate)
    given = rate or {}
    return {e: given.get(e) or RateLimiter(config.delivery.rate_for(e)) for e in ENDPOINTS}
