"""A destination's rate budget: one bucket per Gleap endpoint, shared fairly by the mappings using it.

Gleap limits identify and track apart (1000 requests a minute each, per project), so each has its own
bucket and a busy track stream never takes identify's budget. Requests to any other endpoint (the
`DELETE /admin/contacts/{userId}` of a user deletion) count against identify's bucket: they change
contacts too, and Gleap documents no budget of their own.

At a bucket, waiting requests queue per mapping and are served round-robin, one request per turn, so a
backlog of one mapping cannot starve another (each request costs one token whatever it carries, so this
is deficit round-robin with unit costs). With `audience_priority`, requests that carry only audience and
computed-trait identifies are served before the others.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import Mapping
from urllib.parse import urlsplit

from gleap_actions.deliver.ratelimit import Limiter
from gleap_actions.engine.action import Request

ENDPOINTS = ("identify", "track")


def endpoint_of(request: Request) -> str:
    """The Gleap budget `request` counts against: "track" for `/admin/track`, else "identify"."""
    return "track" if urlsplit(request.url).path.rstrip("/").endswith("/admin/track") else "identify"


class FairBucket:
    """One limiter served round-robin to the flows (mappings) waiting on it, priority flows first."""

    def __init__(self, limiter: Limiter) -> None:
        self.limiter = limiter
        # Insertion order is the round-robin order: a flow served moves to the end.
        self._queues: tuple[dict[str, deque[asyncio.Future[None]]], ...] = ({}, {})
        self._server: asyncio.Task[None] | None = None

    async def acquire(self, flow: str, *, priority: bool = False) -> None:
        """Wait for `flow`'s turn and a token."""
        if self.limiter.unlimited:  # nothing to share: only a pause can hold us
            await self.limiter.acquire()
            return
        waiter = asyncio.get_running_loop().create_future()
        self._queues[0 if priority else 1].setdefault(flow, deque()).append(waiter)
        if self._server is None or self._server.done():
            self._server = asyncio.create_task(self._serve(), name="rate-bucket")
        try:
            await waiter
        except asyncio.CancelledError:
            waiter.cancel()  # skipped when its turn comes
            raise

    async def _serve(self) -> None:
        """Take one token at a time and give it to the next waiter in turn (chosen once the token is
        there, so a waiter arriving meanwhile is considered)."""
        while self._waiting():
            try:
                await self.limiter.acquire()
            except Exception as exc:  # the shared limiter cannot reach its database: tell one waiter
                waiter = self._next()
                if waiter is not None:
                    waiter.set_exception(exc)
                continue
            waiter = self._next()
            if waiter is not None:
                waiter.set_result(None)

    def _waiting(self) -> bool:
        """Whether a waiter is left (dropping flows whose waiters all gave up)."""
        for queues in self._queues:
            for flow in list(queues):
                queue = queues[flow]
                while queue and queue[0].done():
                    queue.popleft()
                if queue:
                    return True
                del queues[flow]
        return False

    def _next(self) -> asyncio.Future[None] | None:
        """The first waiter of the next flow in turn, priority flows first."""
        if not self._waiting():
            return None
        queues = next(q for q in self._queues if q)
        flow = next(iter(queues))
        queue = queues.pop(flow)
        waiter = queue.popleft()
        if queue:
            queues[flow] = queue  # to the end of the round
        return waiter

    def close(self) -> None:
        """Stop serving and release the limiter."""
        if self._server is not None:
            self._server.cancel()
        for queues in self._queues:
            for queue in queues.values():
                for waiter in queue:
                    waiter.cancel()
            queues.clear()
        self.limiter.close()


class Budget:
    """The buckets of one destination, by endpoint (two endpoints may share one bucket)."""

    def __init__(self, limiters: Mapping[str, Limiter], *, audience_priority: bool = False) -> None:
        self.audience_priority = audience_priority
        shared: dict[int, FairBucket] = {}
        self.buckets = {
            endpoint: shared.setdefault(id(limiter), FairBucket(limiter))
            for endpoint, limiter in limiters.items()
        }

    @property
    def tokens_per_second(self) -> int:
        """The most requests a second the fastest limited bucket allows now (0 when none is limited)."""
        rates = [b.limiter.requests_per_minute for b in self.buckets.values() if not b.limiter.unlimited]
        return math.ceil(max(rates, default=0.0) / 60)

    def bucket(self, request: Request) -> FairBucket:
        """The bucket `request` counts against."""
        return self.buckets[endpoint_of(request)]

    def limiter(self, endpoint: str) -> Limiter:
        """The limiter of `endpoint` ("identify" or "track")."""
        return self.buckets[endpoint].limiter

    def throttled(self, request: Request, retry_after: float | None) -> None:
        """Gleap answered `request` with 429: slow its bucket down."""
        self.bucket(request).limiter.throttled(retry_after)

    def pause(self, request: Request, seconds: float) -> None:
        """Gleap asked to wait `seconds` before sending to `request`'s endpoint again."""
        self.bucket(request).limiter.pause(seconds)

    def close(self) -> None:
        """Release every bucket once."""
        for bucket in {id(b): b for b in self.buckets.values()}.values():
            bucket.close()
