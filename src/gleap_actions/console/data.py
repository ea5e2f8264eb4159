"""What the pages show, read from the store and the process's metrics.

Store reads per page view, all bounded whatever the backlog: the overview is `Store.stats` (the same call as
`/admin/stats`: per-mapping grouped counts over the deliveries table through its mapping index, the oldest
unrouted event and the oldest delivery through their indexes); dead letters are one page by id
(`list_dead_letters`, at most 1000 rows) or one row. Charts and live events never touch the store.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry

from gleap_actions.console.activity import DAY, HOUR, Activity, Key, Series, read_counters, read_gauge
from gleap_actions.queue.store import DeadLetter, QueueStats, Store

QUEUE_STATES = ("pending", "retrying", "in_flight", "dead_letters")


def delivered_totals(registry: CollectorRegistry) -> dict[str, int]:
    """Deliveries acknowledged by Gleap since this process started, per mapping."""
    return {m: n for (m, state), n in read_counters(registry).items() if state == "delivered"}


@dataclass(frozen=True, slots=True)
class Paused:
    """Delivery paused because Gleap refused the API token."""

    status: int | None
    detail: str
    since: float


@dataclass(slots=True)
class Overview:
    """Everything on the overview page."""

    stats: QueueStats
    mappings: list[str]  # configured ones first, then any only the store knows
    totals: Counter[Key]
    hour: Series
    day: Series
    latency: dict[str, float | None]
    concurrency: float | None
    paused: Paused | None
    delivering: bool  # this node runs delivery
    at: float = field(default_factory=time.time)


def overview(
    stats: QueueStats,
    registry: CollectorRegistry,
    activity: Activity,
    configured: list[str],
    paused: Paused | None,
    now: float,
) -> Overview:
    """The overview from `stats` (read by the caller in a worker thread) and the metrics (on the loop)."""
    mappings = configured + sorted(set(stats.per_mapping) - set(configured))
    alerting = read_gauge(registry, "gleap_actions_credentials_paused")
    return Overview(
        stats=stats,
        mappings=mappings,
        totals=read_counters(registry),
        hour=activity.series(HOUR, mappings, now),
        day=activity.series(DAY, mappings, now),
        latency={m: activity.latency(m) for m in mappings},
        concurrency=read_gauge(registry, "gleap_actions_concurrency_limit"),
        paused=paused if alerting else None,
        delivering=alerting is not None,
        at=now,
    )


@dataclass(frozen=True, slots=True)
class LetterFilter:
    """Dead-letter filters: mapping (by the store's index), status and reason text (on the page read)."""

    mapping: str = ""
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
    letters = store.list_dead_letters(mapping=flt.mapping or None, limit=limit, after_id=flt.after)
    kept: list[DeadLetter] = []
    for letter in letters:
        if flt.keeps(letter):
            kept.append(letter)
            if len(kept) == PAGE:
                return kept, letter.id
    return kept, (letters[-1].id if len(letters) == limit else None)
