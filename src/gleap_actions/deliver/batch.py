"""Claiming and batching (Vector's batcher): due deliveries of one mapping, claimed under a lease.

A partial batch lingers until its oldest event is `linger` old, then takes what came since, so a trickle
still goes out promptly and a burst goes out in full batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gleap_actions.deliver.store_calls import StoreCalls
from gleap_actions.queue.store import Delivery, Store


@dataclass(frozen=True, slots=True)
class Work:
    """Claimed deliveries and their parsed events, index-aligned."""

    deliveries: list[Delivery]
    events: list[dict[str, Any]]
    claimed_at: float  # time.monotonic() of the claim, to respect the lease

    @property
    def ids(self) -> list[int]:
        """The delivery ids."""
        return [d.id for d in self.deliveries]

    @property
    def users(self) -> set[str]:
        """The users of the deliveries (those that have one)."""
        return {d.user for d in self.deliveries if d.user is not None}

    def subset(self, indices: Sequence[int]) -> Work:
        """The deliveries at `indices` (a planned request's)."""
        return Work([self.deliveries[i] for i in indices], [self.events[i] for i in indices], self.claimed_at)

    def halves(self) -> tuple[Work, Work]:
        """Two halves, to isolate bad events in a rejected batch."""
        mid = len(self.deliveries) // 2
        return self.subset(range(mid)), self.subset(range(mid, len(self.deliveries)))


class Claimer:
    """Claims due deliveries of one mapping for this owner, remembering what it holds until an outcome
    is recorded (`held`), so that a stop can give back exactly that."""

    def __init__(
        self,
        store: Store,
        run: StoreCalls,
        *,
        mapping: str,
        owner: str,
        lease: float,
        per_request: int,
        linger: float,
        stopping: asyncio.Event,
    ) -> None:
        self._store = store
        self._run = run
        self._mapping = mapping
        self._owner = owner
        self._lease = lease
        self._per_request = per_request
        self._linger = linger
        self._stopping = stopping
        self.held: set[int] = set()

    async def claim(self, limit: int, *, batch: bool, users: int | None = None) -> list[Delivery]:
        """Up to `limit` due deliveries (of `users` users at most); with `batch`, a partial batch
        lingers for more first."""
        claimed = await self._claim(limit, users)
        if claimed and batch and len(claimed) < self._per_request:
            claimed += await self._top_up(claimed)
        return claimed

    def done(self, ids: Sequence[int]) -> None:
        """An outcome of `ids` was recorded: they are no longer held."""
        self.held.difference_update(ids)

    async def _claim(self, limit: int, users: int | None = None) -> list[Delivery]:
        claimed = await self._run(
            self._store.claim_deliveries,
            self._owner,
            self._mapping,
            limit,
            self._lease,
            time.time(),
            users=users,
        )
        self.held.update(d.id for d in claimed)
        return claimed

    async def _top_up(self, claimed: list[Delivery]) -> list[Delivery]:
        """A partial batch waits until its oldest event is `linger` old, then takes what came since."""
        wait = min(d.received_at for d in claimed) + self._linger - time.time()
        if wait > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), wait)
        if self._stopping.is_set():
            return []
        return await self._claim(self._per_request - len(claimed))
