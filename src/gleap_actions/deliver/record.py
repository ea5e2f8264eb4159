"""Recording outcomes: the store learns what happened to each claimed delivery, and the metrics count it.

- `Delivered`: `ack` (concurrent acks grouped into one commit); the credentials alert clears.
- `Retry`: `retry` after a jittered backoff, never sooner than `Retry-After` (which pauses every sender
  of the endpoint; a 429 also slows its bucket down), until the retry window ends; then `dead_letter`
  with the last error.
- `Rejected`: `dead_letter` with the redacted request and the response.
- `Credentials`: `release` (no attempt counted), pause all delivery, alert.
- `Skipped`: `release`.

An outcome that cannot be written (a full disk) is tried again for up to half a lease.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gleap_actions.config.topology import DEFAULT
from gleap_actions.deliver.ackcommit import AckCommit
from gleap_actions.deliver.batch import Claimer, Work
from gleap_actions.deliver.budget import Budget
from gleap_actions.deliver.gate import CredentialsGate
from gleap_actions.deliver.metrics import PipelineMetrics
from gleap_actions.deliver.outcome import Credentials, Delivered, Outcome, Rejected, Retry, Skipped, describe
from gleap_actions.deliver.outcomes import DeliveryOutcomes
from gleap_actions.deliver.retry import RetryPolicy
from gleap_actions.deliver.store_calls import StoreCalls
from gleap_actions.engine.action import Plan, Request
from gleap_actions.engine.errors import RetryableError
from gleap_actions.queue.store import Delivery, Store, StoreFullError

log = logging.getLogger(__name__)


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

RESPONSE_LIMIT = 2000  # characters of a response body kept in a dead letter


class Recorder:
    """Records the outcomes of one mapping's requests."""

    def __init__(
        self,
        mapping: str,
        store: Store,
        run: StoreCalls,
        *,
        ack: AckCommit,
        claimer: Claimer,
        policy: RetryPolicy,
        gate: CredentialsGate,
        budget: Budget,
        metrics: PipelineMetrics,
        outcomes: DeliveryOutcomes,
        lease: float,
        stopping: asyncio.Event,
        observe: Observe | None = None,
        labels: tuple[str, str] | None = None,
    ) -> None:
        self._mapping = mapping  # the delivery key, in logs
        self._labels = labels or (DEFAULT, mapping)  # (destination, mapping), in metrics
        self._store = store
        self._run = run
        self._ack = ack
        self._claimer = claimer
        self._policy = policy
        self._gate = gate
        self._budget = budget
        self._metrics = metrics
        self._outcomes = outcomes
        self._lease = lease
        self._stopping = stopping
        self._observe = observe

    async def record(self, outcome: Outcome, request: Request, work: Work) -> bool:
        """Record what happened to `request`, which carried `work`. Returns whether its events settled:
        delivered or dead-lettered (not to be retried or given back)."""
        if self._observe is not None:
            self._observe_outcome(self._observe, outcome, request, work)
        if isinstance(outcome, Delivered):
            answered = time.monotonic()
            self._metrics.latency.labels(*self._labels).observe(outcome.latency)
            self._metrics.requests.labels(*self._labels, "ok").inc()
            self._gate.succeeded()
            ids = work.ids
            await self._persist(self._ack, ids)
            self._metrics.ack_wait.observe(time.monotonic() - answered)
            self._claimer.done(ids)
            self._metrics.delivered.labels(*self._labels).inc(len(ids))
            self._outcomes.record_delivered(self._mapping, len(ids))
            return True
        if isinstance(outcome, Skipped):
            await self.release(work.ids)
        elif isinstance(outcome, Credentials):
            self.count(work, "credentials")
            self._outcomes.record_refused(outcome.status)
            self._gate.pause(outcome.status)
            await self.release(work.ids)
        elif isinstance(outcome, Retry):
            self.count(work, outcome.kind)
            if outcome.kind == "retryable":
                self._outcomes.record_temporary(describe(outcome.error))
            if outcome.status == 429:  # over Gleap's limit: the endpoint's bucket slows down
                self._budget.throttled(request, outcome.retry_after)
            elif outcome.retry_after:  # the destination asked everyone to wait, not just this request
                self._budget.pause(request, outcome.retry_after)
            await self.retry(request, work, outcome.error, outcome.retry_after)
        else:
            self.count(work, "final")
            await self.rejected(request, work, outcome)
            return True
        return False

    async def retry(
        self, request: Request | None, work: Work, err: Exception, retry_after: float | None
    ) -> None:
        """Schedule another attempt, or dead-letter the deliveries whose retry window is over."""
        now = time.time()
        due: list[float] = []
        alive: list[int] = []
        expired: list[Delivery] = []
        for d in work.deliveries:
            at = self._policy.next_attempt(
                attempts=d.attempts + 1, first_attempt_at=d.first_attempt_at, now=now, retry_after=retry_after
            )
            if at is None:
                expired.append(d)
            else:
                alive.append(d.id)
                due.append(at)
        message = describe(err)
        if alive:
            at = min(due)
            await self._persist(self._run, self._store.retry, alive, at=at, error=message, now=now)
            self._claimer.done(alive)
            log.warning(
                "event=delivery_retry mapping=%s events=%d in=%.2fs error=%r",
                self._mapping,
                len(alive),
                at - now,
                message,
            )
        if expired:
            attempts = max(d.attempts for d in expired) + 1
            reason = f"retry window expired after {attempts} attempts; last error: {message}"
            status = err.status if isinstance(err, RetryableError) else None
            request_json = "" if request is None else request.to_json()
            await self._dead_letter(expired, "retry_window", reason, status, request_json, "")

    async def rejected(self, request: Request, work: Work, outcome: Rejected) -> None:
        """A final answer: dead-letter with the redacted request and the response."""
        err = outcome.error
        response = orjson.dumps({"status": err.status, "body": err.body[:RESPONSE_LIMIT]}).decode()
        reason = describe(err)
        if err.status == 413:  # batches were split down to this request: its event alone is too large
            reason = f"event too large: refused even alone ({reason})"
        await self._dead_letter(
            work.deliveries, "final_http", reason, err.status, request.to_json(), response
        )

    async def rejections(self, work: Work, plan: Plan) -> None:
        """Per-event rejections of planning (payload validation) are final: dead-letter at once."""
        for rejection in plan.rejections:
            delivery = work.deliveries[rejection.index]
            reason = f"{rejection.code}: {rejection.message}"
            if self._observe is not None:
                event = [work.events[rejection.index]]
                self._observe(Exchange(self._mapping, event, "rejected", "", rejection.status, reason))
            await self._dead_letter([delivery], "rejected", reason, rejection.status, "", "")

    def _observe_outcome(self, observe: Observe, outcome: Outcome, request: Request, work: Work) -> None:
        if isinstance(outcome, Skipped):
            return
        status: int | None
        if isinstance(outcome, Delivered):
            state, status = "delivered", outcome.status
            text = outcome.body[:RESPONSE_LIMIT].decode("utf-8", "replace")
        elif isinstance(outcome, Credentials):
            state, status, text = "paused", outcome.status, "the API token was refused"
        elif isinstance(outcome, Retry):
            state, status, text = "retrying", outcome.status, describe(outcome.error)
        else:
            state, status, text = "dead_lettered", outcome.error.status, outcome.error.body[:RESPONSE_LIMIT]
        observe(Exchange(self._mapping, work.events, state, request.to_json(), status, text))

    async def release(self, ids: list[int]) -> None:
        """Give claimed deliveries back without counting an attempt."""
        if ids:
            await self._run(self._store.release, ids)
            self._claimer.done(ids)

    def count(self, work: Work, kind: str) -> None:
        """Count a failed request of `kind` and its events."""
        self._metrics.requests.labels(*self._labels, kind).inc()
        self._metrics.failed.labels(*self._labels, kind).inc(len(work.deliveries))

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
            self._run,
            self._store.dead_letter,
            ids,
            reason=reason,
            status=status,
            request=request,
            response=response,
        )
        self._claimer.done(ids)
        self._metrics.dead_lettered.labels(*self._labels, kind).inc(len(ids))
        self._outcomes.record_dead_letter(self._mapping, reason, len(ids))
        log.warning(
            "event=dead_lettered mapping=%s kind=%s events=%d status=%s reason=%r",
            self._mapping,
            kind,
            len(ids),
            status,
            reason,
        )

    async def _persist(self, write: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> None:
        """Record an outcome, trying again while the store cannot write (a full disk) for up to half a
        lease: once space returns the outcome lands at once, instead of the deliveries staying claimed
        until their lease ends and then being sent again (found by tests/reliability/test_disk_full.py)."""
        deadline = time.monotonic() + self._lease / 2
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
