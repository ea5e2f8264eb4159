"""What the pages show, read from the store and the process's metrics.

Store reads, bounded per page view whatever the backlog:
- The overview shows `Store.stats`, the call behind `/admin/stats`. It counts every queued delivery (about
  0.85 s with 1M queued in SQLite), so no page view waits for it: `StatsCache` keeps the last result and
  refreshes it in the background while someone is looking, at most every 2 s and never spending more than
  a tenth of the time counting; the page says when the figures were read. Only the first view after a
  quiet spell waits for a count.
- Dead letters: one page by id (`list_dead_letters`: 50 rows, at most 1000 when filtering by status or
  reason) or one row by id.
- Charts and live events never touch the store.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from gleap_actions.config.topology import DestinationConfig
from gleap_actions.console.activity import (
    DAY,
    HOUR,
    Activity,
    Key,
    Series,
    read_counters,
    read_gauge,
    read_gauges,
)
from gleap_actions.queue.store import DeadLetter, DeadLetterFilter, DestinationQueue, QueueStats, Store
from gleap_actions.route import delivery_key, split_key

QUEUE_STATES = ("pending", "retrying", "in_flight", "dead_letters")


class StatsCache:
    """The last `Store.stats`, refreshed in the background (stale while revalidating) on the event loop."""

    def __init__(self, read: Callable[[float], Awaitable[QueueStats]], *, min_interval: float = 2.0) -> None:
        self._read = read
        self._min_interval = min_interval
        self._stats: QueueStats | None = None
        self._read_at = 0.0
        self._interval = min_interval
        self._task: asyncio.Task[None] | None = None

    async def get(self) -> tuple[QueueStats, float]:
        """The latest stats and when they were read; waits only when there are none yet."""
        if self._stats is None:
            await self._refresh()
        elif time.time() - self._read_at >= self._interval and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._refresh())
            self._task.add_done_callback(self._done)
        assert self._stats is not None
        return self._stats, self._read_at

    def _done(self, task: asyncio.Task[None]) -> None:
        self._task = None
        if not task.cancelled():
            task.exception()  # a failed count is retried at the next view; the last figures stay

    async def _refresh(self) -> None:
        started = time.monotonic()
        now = time.time()
        self._stats = await self._read(now)
        self._read_at = now
        self._interval = max(self._min_interval, 10 * (time.monotonic() - started))


@dataclass(frozen=True, slots=True)
class Paused:
    """Delivery paused because Gleap refused the API token."""

    status: int | None
    detail: str
    since: float


@dataclass(frozen=True, slots=True)
class DestinationView:
    """One destination on the overview: its mappings, its share of the queue, its paused state."""

    name: str
    mappings: list[str]  # delivery keys: configured ones first, then any only the store knows
    queue: DestinationQueue
    paused: Paused | None
    configured: bool  # False: only queued work knows it (removed from the config)


@dataclass(slots=True)
class Overview:
    """Everything on the overview page."""

    stats: QueueStats
    destinations: list[DestinationView]
    mappings: list[str]  # every destination's delivery keys, in destination order
    totals: Counter[Key]
    hour: Series
    day: Series
    latency: dict[str, float | None]
    concurrency: float | None
    delivering: bool  # this node runs delivery
    at: float  # when the queue figures were read

    @property
    def paused(self) -> list[DestinationView]:
        """The destinations whose delivery is paused."""
        return [d for d in self.destinations if d.paused is not None]


def overview(
    stats: QueueStats,
    read_at: float,
    registry: CollectorRegistry,
    activity: Activity,
    destinations: Sequence[DestinationConfig],
    paused: Mapping[str, Paused],
) -> Overview:
    """The overview from `stats` (read at `read_at`) and the process's metrics: each destination of
    `destinations` (then any only the queue knows) with its mappings; `paused`: the last refusal seen per
    destination (shown while the destination's paused gauge says so)."""
    now = time.time()
    names = [d.name for d in destinations]
    keys = {d.name: [delivery_key(d.name, s.name) for s in d.subscriptions] for d in destinations}
    configured = {key for listed in keys.values() for key in listed}
    queued = names + sorted(set(stats.per_destination) - set(names))
    for key in sorted(set(stats.per_mapping) - configured):
        keys.setdefault(split_key(key, queued)[0], []).append(key)
    alerting = read_gauges(registry, "gleap_actions_credentials_paused")
    views = [
        DestinationView(
            name,
            listed,
            stats.per_destination.get(name, DestinationQueue()),
            paused.get(name) if alerting.get(name) else None,
            name in names,
        )
        for name, listed in keys.items()
    ]
    mappings = [key for view in views for key in view.mappings]
    return Overview(
        stats=stats,
        destinations=views,
        mappings=mappings,
        totals=read_counters(registry),
        hour=activity.series(HOUR, mappings, now),
        day=activity.series(DAY, mappings, now),
        latency={m: activity.latency(m) for m in mappings},
        concurrency=read_gauge(registry, "gleap_actions_concurrency_limit"),
        delivering=bool(alerting),
        at=read_at,
    )


@dataclass(frozen=True, slots=True)
class LetterFilter:
    """Dead-letter filters: destination and mapping (by the store's indexes), status and reason text (on
    the page read)."""

    destination: str = ""
    mapping: str = ""  # a delivery key (`route.delivery_key`)
    status: str = ""  # an HTTP status, or "none" for letters without one
    reason: str = ""  # words the reason contains (case-insensitive)
    after: int = 0

    def keeps(self, letter: DeadLetter) -> bool:
        """Whether `letter` passes the status and reason filters."""
        if self.status:
            wanted = None if self.status == "none" else self.status
            if (str(letter.status) if letter.status is not None else None) != wanted:
                return False
        return not self.reason or self.reason.lower() in letter.reason.lower()


PAGE = 50
SCAN = 1000  # most letters read for one page when filtering by status or reason


def dead_letters(store: Store, flt: LetterFilter) -> tuple[list[DeadLetter], int | None]:
    """One page of dead letters matching `flt`, and the id to continue after (None at the end)."""
    limit = SCAN if flt.status or flt.reason else PAGE
    where = DeadLetterFilter(destination=flt.destination or None, mapping=flt.mapping or None)
    letters = store.list_dead_letters(where, limit=limit, after_id=flt.after)
    kept: list[DeadLetter] = []
    for letter in letters:
        if flt.keeps(letter):
            kept.append(letter)
            if len(kept) == PAGE:
                return kept, letter.id
    return kept, (letters[-1].id if len(letters) == limit else None)
