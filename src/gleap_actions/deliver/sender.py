"""Sending one request (Vector's service): rate budget, concurrency permit, send, classify.

The permit is taken and given back here and only here: whatever happens to the request, `send` returns
an `Outcome` after releasing it, with what the adaptive concurrency should learn from the round trip.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from gleap_actions.deliver.budget import Budget, endpoint_of
from gleap_actions.deliver.concurrency import AdaptiveConcurrency
from gleap_actions.deliver.gate import CredentialsGate
from gleap_actions.deliver.metrics import PipelineMetrics
from gleap_actions.deliver.outcome import Delivered, Outcome, Retry, Skipped, classify, load_signal
from gleap_actions.destinations.gleap.client import Response
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.action import Request

log = logging.getLogger(__name__)

SendFn = Callable[[aiohttp.ClientSession, Request, float], Awaitable[Response]]
"""`destinations.gleap.client.send`: returns on 2xx, raises the `engine.errors` delivery taxonomy else."""


@dataclass(slots=True)
class Destination:
    """Where requests go: the one place the destination's settings live (`Pipeline.resume` replaces
    them; request building and sending read them)."""

    settings: GleapSettings
    session: aiohttp.ClientSession
    send: SendFn
    name: str = "default"  # the configured destination's name


class Sender:
    """Sends requests to one destination within its budget: one rate budget (a bucket per Gleap
    endpoint), one concurrency limit and one credentials gate for every mapping of that destination."""

    def __init__(
        self,
        destination: Destination,
        *,
        budget: Budget,
        concurrency: AdaptiveConcurrency,
        gate: CredentialsGate,
        metrics: PipelineMetrics,
        lease: float,
    ) -> None:
        self.destination = destination
        self.budget = budget
        self.concurrency = concurrency
        self.gate = gate
        self._limit_gauge = metrics.concurrency.labels(destination.name)
        self._rate_gauges = {e: metrics.rate.labels(destination.name, e) for e in budget.buckets}
        self._lease = lease

    async def send(
        self, request: Request, *, claimed_at: float, mapping: str, events: int, priority: bool = False
    ) -> Outcome:
        """Send `request` (carrying `events` claimed at `claimed_at`, monotonic) and classify the answer.
        It waits for its turn at its endpoint's bucket as `mapping` (before others with `priority`)."""
        endpoint = endpoint_of(request)
        bucket = self.budget.buckets[endpoint]
        await bucket.acquire(mapping, priority=priority)
        self._rate_gauges[endpoint].set(bucket.limiter.requests_per_minute)
        permit = await self.concurrency.acquire()
        self._limit_gauge.set(self.concurrency.limit)
        outcome: Outcome = Skipped()
        try:
            # Paused while we waited, or waited so long the lease may run out (a long Retry-After): give
            # the work back untouched rather than risk a second owner sending it too.
            if self.gate.paused or time.monotonic() - claimed_at > self._lease / 2:
                return outcome
            destination = self.destination
            started = time.monotonic()
            try:
                response = await destination.send(destination.session, request, destination.settings.timeout)
            except Exception as err:
                outcome = classify(err)
                if isinstance(outcome, Retry) and outcome.kind == "unexpected":
                    log.error(
                        "event=send_failed_unexpectedly mapping=%s events=%d", mapping, events, exc_info=err
                    )
            else:
                outcome = Delivered(time.monotonic() - started, response.status, response.body)
            return outcome
        finally:
            measured, overloaded = load_signal(outcome)
            await self.concurrency.release(permit, measured=measured, overloaded=overloaded)
            self._limit_gauge.set(self.concurrency.limit)
