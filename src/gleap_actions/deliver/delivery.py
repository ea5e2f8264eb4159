"""Delivery of one mapping: claim due deliveries, plan requests, send them, record the outcomes.

The body reads as one pipeline (like a Vector sink): claim (topping up a partial batch after the linger
time so a trickle still goes out promptly) -> plan with `Subscription.plan` (per-event rejections are
dead-lettered at once) -> for each request, a task: rate limit, adaptive concurrency permit, send ->
record the outcome:

- 2xx: `ack` (concurrent acks grouped into one commit).
- `RetryableError` (408, 423, 429, 5xx but 501, network errors, timeouts): `retry` after a jittered
  backoff, never sooner than `Retry-After` (a 429's also pauses every sender), until the retry window
  ends; then `dead_letter` with the last error.
- `FinalHTTPError`: `dead_letter` with the redacted request and the response; a batch answered 400 is
  split in halves, recursively, so only the bad events are dead-lettered.
- `InvalidCredentialsError` (401/403): `release` (no attempt counted), pause all delivery, alert.

Store calls are synchronous and run in a worker thread through `run`; this module never blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import aiohttp
import orjson

from gleap_actions.deliver.concurrency import AdaptiveConcurrency
from gleap_actions.deliver.gate import CredentialsGate
from gleap_actions.deliver.groupcommit import GroupCommit
from gleap_actions.deliver.metrics import PipelineMetrics
from gleap_actions.deliver.ratelimit import Limiter
from gleap_actions.deliver.retry import RetryPolicy
from gleap_actions.destinations.gleap.client import Response
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.action import Plan, Request
from gleap_actions.engine.errors import FinalHTTPError, InvalidCredentialsError, RetryableError
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.store import Delivery, Store, StoreFullError

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

SendFn = Callable[[aiohttp.ClientSession, Request, float], Awaitable[Response]]
"""`gleap.client.send`: returns on 2xx, raises the `engine.errors` delivery taxonomy otherwise."""


@dataclass(frozen=True, slots=True)
class Exchange:
    """What became of one request, for an observer (the console's live view). `request` is the redacted
    JSON ("" when none was built); `outcome` is delivered, retrying, dead_lettered, rejected or paused."""

    mapping: str
    events: Sequence[dict[str, Any]]
    outcome: str
    request: str
    status: int | None
    response: str


Observe = Callable[[Exchange], None]


class Runner:
    """Runs synchronous store calls in a worker thread."""

    def __init__(self, call: Callable[[Callable[[], Any]], Awaitable[Any]]) -> None:
        self._call = call

    async def __call__(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`fn(*args, **kwargs)` off the event loop."""
        result: T = await self._call(lambda: fn(*args, **kwargs))
        return result


@dataclass(slots=True)
class Shared:
    """What every mapping's delivery shares: one destination, one budget."""

    store: Store
    run: Runner
    ack: GroupCommit
    session: aiohttp.ClientSession
    send: SendFn
    settings: GleapSettings
    policy: RetryPolicy
    concurrency: AdaptiveConcurrency
    rate: Limiter
    gate: CredentialsGate
    metrics: PipelineMetrics
    owner: str
    linger: float
    lease: float = 120.0
    claim_limit: int = 5000
    poll_interval: float = 0.05
    response_limit: int = 2000  # characters of a response body kept in a dead letter
    observe: Observe | None = None


@dataclass(frozen=True, slots=True)
class Work:
    """Claimed deliveries and their parsed events, index-aligned."""

    deliveries: list[Delivery]
    events: list[dict[str, Any]]
    claimed_at: float  # time.monotonic() of the claim, to respect the lease

    def subset(self, indices: Sequence[int]) -> Work:
        """The deliveries at `indices` (a planned request's)."""
        return Work([self.deliveries[i] for i in indices], [self.events[i] for i in indices], self.claimed_at)

    def halves(self) -> tuple[Work, Work]:
        """Two halves, to isolate bad events in a rejected batch."""
        mid = len(self.deliveries) // 2
        return self.subset(range(mid)), self.subset(range(mid, len(self.deliveries)))


OVERLOAD_STATUSES = frozenset({429, 503})


class MappingDelivery:
    """The delivery loop of one mapping (`Subscription`)."""

    def __init__(self, subscription: Subscription, shared: Shared) -> None:
        self.sub = subscription
        self.name = subscription.name
        self._s = shared
        self._tasks: set[asyncio.Task[None]] = set()
        self._held: set[int] = set()  # claimed, outcome not yet recorded
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._batch = subscription.batching
        self._per_request = max(1, subscription.batch_size) if self._batch else 1

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
        s = self._s
        await self._wait_for_room()
        if self._stopping.is_set():
            return
        if s.gate.paused:
            await self._idle(s.poll_interval)
            return
        free = max(1, s.concurrency.limit - len(self._tasks))
        claimed = await self._claim(min(s.claim_limit, free * self._per_request))
        if not claimed:
            await self._idle(s.poll_interval)
            return
        if self._batch and len(claimed) < self._per_request:
            claimed += await self._linger(claimed)
        if self._stopping.is_set():
            await self._release([d.id for d in claimed])
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
        if self._held:
            await self._release(list(self._held))

    # -- claiming --------------------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[Delivery]:
        s = self._s
        claimed = await s.run(s.store.claim_deliveries, s.owner, self.name, limit, s.lease, time.time())
        self._held.update(d.id for d in claimed)
        return claimed

    async def _linger(self, claimed: list[Delivery]) -> list[Delivery]:
        """A partial batch waits until its oldest event is `linger` old, then takes what came since."""
        wait = min(d.received_at for d in claimed) + self._s.linger - time.time()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)
        if self._stopping.is_set():
            return []
        return await self._claim(self._per_request - len(claimed))

    async def _wait_for_room(self) -> None:
        """Claim no more than can be sent soon: leases must not expire in a local queue."""
        while len(self._tasks) >= self._s.concurrency.limit and not self._stopping.is_set():
            stop = asyncio.ensure_future(self._stopping.wait())
            try:
                await asyncio.wait({*self._tasks, stop}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stop.cancel()

    async def _idle(self, seconds: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    # -- planning --------------------------------------------------------------------------------

    async def _dispatch(self, claimed: list[Delivery]) -> None:
        try:
            work, plan = await self._s.run(self._plan, claimed)
        except Exception as err:  # a bug in planning: retry like a failed send, dead-letter in the end
            log.exception("event=plan_failed mapping=%s events=%d", self.name, len(claimed))
            await self._retry(None, Work(claimed, [], time.monotonic()), err, None)
            return
        await self._reject(work, plan)
        for planned in plan.requests:
            task = asyncio.create_task(self._guarded(planned.request, work.subset(planned.indices)))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _plan(self, claimed: Sequence[Delivery]) -> tuple[Work, Plan]:
        """Parse payloads and plan requests (CPU work, run in the worker thread)."""
        events = [orjson.loads(d.payload) for d in claimed]
        work = Work(list(claimed), events, time.monotonic())
        return work, self.sub.plan(events, self._s.settings, self._batch)

    async def _reject(self, work: Work, plan: Plan) -> None:
        """Per-event rejections (payload validation) are final: dead-letter at once with the reason."""
        for rejection in plan.rejections:
            delivery = work.deliveries[rejection.index]
            reason = f"{rejection.code}: {rejection.message}"
            self._observe([work.events[rejection.index]], "rejected", None, rejection.status, reason)
            await self._dead_letter([delivery], "rejected", reason, rejection.status, "", "")

    # -- sending ---------------------------------------------------------------------------------

    async def _guarded(self, request: Request, work: Work) -> None:
        """`_deliver`, logging a failure to record an outcome (the store refused a write): the
        deliveries stay claimed and their lease expiry makes them due again, so nothing is lost."""
        try:
            await self._deliver(request, work)
        except Exception:
            log.exception("event=record_outcome_failed mapping=%s events=%d", self.name, len(work.deliveries))

    async def _deliver(self, request: Request, work: Work) -> None:
        """Send one request and record its outcome (split and recurse on a batch 400)."""
        s = self._s
        ids = [d.id for d in work.deliveries]
        await s.rate.acquire()
        permit = await s.concurrency.acquire()
        s.metrics.concurrency.set(s.concurrency.limit)
        # Paused while we waited, or waited so long the lease may run out (a long Retry-After): give
        # the work back untouched rather than risk a second owner sending it too.
        if s.gate.paused or time.monotonic() - work.claimed_at > s.lease / 2:
            await s.concurrency.release(permit, measured=False)
            await self._release(ids)
            return
        started = time.monotonic()
        try:
            response = await s.send(s.session, request, s.settings.timeout)
        except InvalidCredentialsError as err:
            await s.concurrency.release(permit, measured=False)
            self._count(work, "credentials")
            self._observe(work.events, "paused", request, err.status, str(err))
            s.gate.pause(err.status)
            await self._release(ids)
        except RetryableError as err:
            overloaded = err.status is None or err.status in OVERLOAD_STATUSES
            await s.concurrency.release(permit, overloaded=overloaded)
            self._count(work, "retryable")
            self._observe(work.events, "retrying", request, err.status, str(err))
            if err.retry_after:  # the destination asked everyone to wait, not just this request
                s.rate.pause(err.retry_after)
            await self._retry(request, work, err, err.retry_after)
        except FinalHTTPError as err:
            await s.concurrency.release(permit, measured=False)
            self._count(work, "final")
            if err.status == 400 and len(work.deliveries) > 1:
                await self._split(work)
            else:
                self._observe(work.events, "dead_lettered", request, err.status, err.body)
                await self._final(request, work, err)
        except Exception as err:  # a bug or an unexpected library error: retry, never lose the events
            await s.concurrency.release(permit, measured=False)
            log.exception("event=send_failed_unexpectedly mapping=%s events=%d", self.name, len(ids))
            self._count(work, "unexpected")
            self._observe(work.events, "retrying", request, None, _describe(err))
            await self._retry(request, work, err, None)
        else:
            body = response.body[: s.response_limit].decode("utf-8", "replace")
            self._observe(work.events, "delivered", request, response.status, body)
            await s.concurrency.release(permit)
            s.metrics.latency.labels(self.name).observe(time.monotonic() - started)
            s.metrics.requests.labels(self.name, "ok").inc()
            s.gate.succeeded()
            await self._persist(s.ack, ids)
            self._held.difference_update(ids)
            s.metrics.delivered.labels(self.name).inc(len(ids))
        finally:
            s.metrics.concurrency.set(s.concurrency.limit)

    async def _split(self, work: Work) -> None:
        """A batch answered 400: plan and send each half on its own to isolate the bad events."""
        log.info("event=batch_split mapping=%s events=%d", self.name, len(work.deliveries))
        jobs: list[Coroutine[Any, Any, None]] = []
        for half in work.halves():
            plan = await self._s.run(self.sub.plan, half.events, self._s.settings, True)
            await self._reject(half, plan)
            jobs.extend(self._deliver(p.request, half.subset(p.indices)) for p in plan.requests)
        await asyncio.gather(*jobs)

    async def _retry(
        self, request: Request | None, work: Work, err: Exception, retry_after: float | None
    ) -> None:
        """Schedule another attempt, or dead-letter the deliveries whose retry window is over."""
        now = time.time()
        due: list[float] = []
        alive: list[int] = []
        expired: list[Delivery] = []
        for d in work.deliveries:
            at = self._s.policy.next_attempt(
                attempts=d.attempts + 1, first_attempt_at=d.first_attempt_at, now=now, retry_after=retry_after
            )
            if at is None:
                expired.append(d)
            else:
                alive.append(d.id)
                due.append(at)
        message = _describe(err)
        if alive:
            at = min(due)
            await self._persist(self._s.run, self._s.store.retry, alive, at=at, error=message, now=now)
            self._held.difference_update(alive)
            log.warning(
                "event=delivery_retry mapping=%s events=%d in=%.2fs error=%r",
                self.name,
                len(alive),
                at - now,
                message,
            )
        if expired:
            attempts = max(d.attempts for d in expired) + 1
            reason = f"retry window expired after {attempts} attempts; last error: {message}"
            status = err.status if isinstance(err, RetryableError) else None
            request_json = "" if request is None else _request_json(request)
            await self._dead_letter(expired, "retry_window", reason, status, request_json, "")

    async def _final(self, request: Request, work: Work, err: FinalHTTPError) -> None:
        response = orjson.dumps({"status": err.status, "body": err.body[: self._s.response_limit]}).decode()
        await self._dead_letter(
            work.deliveries, "final_http", _describe(err), err.status, _request_json(request), response
        )

    # -- recording -------------------------------------------------------------------------------

    async def _dead_letter(
        self,
        deliveries: Sequence[Delivery],
        kind: str,
        reason: str,
        status: int | None,
        request: str,
        response: str,
    ) -> None:
        ids = [d.id for d in deliveries]
        await self._persist(
            self._s.run,
            self._s.store.dead_letter,
            ids,
            reason=reason,
            status=status,
            request=request,
            response=response,
        )
        self._held.difference_update(ids)
        self._s.metrics.dead_lettered.labels(self.name, kind).inc(len(ids))
        log.warning(
            "event=dead_lettered mapping=%s kind=%s events=%d status=%s reason=%r",
            self.name,
            kind,
            len(ids),
            status,
            reason,
        )

    async def _persist(self, write: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
        """Record an outcome, trying again while the store cannot write (a full disk) for up to half a
        lease: once space returns the outcome lands at once, instead of the deliveries staying claimed
        until their lease ends and then being sent again (found by tests/reliability/test_disk_full.py)."""
        deadline = time.monotonic() + self._s.lease / 2
        delay = 0.05
        while True:
            try:
                await write(*args, **kwargs)
                return
            except StoreFullError:
                if time.monotonic() + delay > deadline or self._stopping.is_set():
                    raise
                await asyncio.sleep(delay)
                delay = min(2 * delay, 1.0)

    async def _release(self, ids: list[int]) -> None:
        if ids:
            await self._s.run(self._s.store.release, ids)
            self._held.difference_update(ids)

    def _observe(
        self,
        events: Sequence[dict[str, Any]],
        outcome: str,
        request: Request | None,
        status: int | None,
        response: str,
    ) -> None:
        if self._s.observe is not None:
            text = "" if request is None else _request_json(request)
            self._s.observe(
                Exchange(self.name, events, outcome, text, status, response[: self._s.response_limit])
            )

    def _count(self, work: Work, kind: str) -> None:
        self._s.metrics.requests.labels(self.name, kind).inc()
        self._s.metrics.failed.labels(self.name, kind).inc(len(work.deliveries))


def _describe(err: Exception) -> str:
    """The error as a short line: status and message (delivery errors never carry the token)."""
    status = getattr(err, "status", None)
    text = str(err) or type(err).__name__
    return f"HTTP {status}: {text}" if status is not None else text


def _request_json(request: Request) -> str:
    """The request as JSON with secrets redacted, for a dead letter."""
    return request.to_json()
