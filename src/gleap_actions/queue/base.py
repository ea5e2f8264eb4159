"""What both store backends share: row builders, stats totals and the retention scan.

The backends differ in SQL and in how they commit; everything that only shapes rows into the `Store`'s
values, or walks the events for retention, is written once here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gleap_actions.queue.store import DeadLetter, Delivery, DestinationQueue, QueueStats, StoredEvent

RETENTION_MAX_SCAN = 50_000  # rows looked at per purge_delivered call

# The last event id the compute stage has read while some definition is syncing or live (NULL otherwise):
# retention keeps the events after it, which a lagging stage still has to read (queue/profiles.py).
COMPUTE_CURSOR = (
    "(SELECT c.position FROM profile_cursor c WHERE c.name = 'events'"
    " AND EXISTS (SELECT 1 FROM computations k WHERE k.state IN ('syncing', 'live')))"
)

# The delivery states `QueueStats.per_mapping` counts, per mapping.
STATES = ("pending", "retrying", "in_flight", "dead_letters")

# The indexes of the dead_letters table, the same in both backends' schemas.
DEAD_LETTER_INDEXES = (
    "CREATE INDEX dead_letters_event ON dead_letters (event_id);\n"
    "    CREATE INDEX dead_letters_mapping ON dead_letters (mapping, id);"
)

# The indexes of per-user order (`plan_claim`): one user's queue of a mapping in event order, and its
# parked deliveries (`{parked}`: the backend's "is parked" condition). The message id, which orders
# events of equal timestamps (rare), is left out of `deliveries_user` and sorted as read: entries of
# that index are spread by user, so every ack writes as many of its pages as users, and small entries
# mean fewer pages.
DELIVERY_ORDER_INDEXES = (
    "CREATE INDEX deliveries_user ON deliveries (mapping, user_key, ordered_at)"
    " WHERE user_key IS NOT NULL;\n"
    "    CREATE INDEX deliveries_parked ON deliveries (mapping, user_key) WHERE {parked}"
)

# The destination of a stored delivery key (`route.delivery_key`): the text before the first '/' when it is
# a destination name, else `default`. Both backends keep it as a generated column of `deliveries` and
# `dead_letters`, so it can never disagree with the key the lanes claim by (and existing rows get it too).
SQLITE_DESTINATION = (
    "CASE WHEN instr(mapping, '/') BETWEEN 2 AND 65"
    " AND substr(mapping, 1, 1) GLOB '[A-Za-z0-9]'"
    " AND substr(mapping, 1, instr(mapping, '/') - 1) NOT GLOB '*[^A-Za-z0-9_.-]*'"
    " THEN substr(mapping, 1, instr(mapping, '/') - 1) ELSE 'default' END"
)
POSTGRES_DESTINATION = (
    "CASE WHEN mapping ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}/'"
    " THEN split_part(mapping, '/', 1) ELSE 'default' END"
)

# The columns of a dead letter row, as `dead_letter_from_row` reads them (`dl`: dead_letters, `e`: events).
DEAD_LETTER_COLUMNS = (
    "dl.id, dl.event_id, dl.mapping, dl.reason, dl.status, dl.request, dl.response, dl.created_at,"
    " dl.attempts, e.payload, dl.destination"
)


def dead_letter_from_row(row: Sequence[Any]) -> DeadLetter:
    """A `DeadLetter` from a row of `DEAD_LETTER_COLUMNS`."""
    (
        id_,
        event_id,
        mapping,
        reason,
        status,
        request,
        response,
        created_at,
        attempts,
        payload,
        destination,
    ) = row
    return DeadLetter(
        id=int(id_),
        event_id=int(event_id),
        mapping=str(mapping),
        reason=str(reason),
        status=None if status is None else int(status),
        request=str(request),
        response=str(response),
        created_at=float(created_at),
        attempts=int(attempts),
        payload=bytes(payload),
        destination=str(destination),
    )


# A claim whose due range held only the work of users waiting for a retry parks it and reads the next
# range, this many times at most (each round moves `limit` rows out of the way, so a blocked backlog is
# soon out of it).
CLAIM_ROUNDS = 8


def queue_depth(limit: int, users_in_range: int, users: int | None) -> int:
    """How much of each user's queue a claim reads: its share of `limit` (of `users` users when the
    claim is bounded in users, else of those in the due range), so that a claim reads about as many
    rows as it can take. Reading less of a long queue only takes a shorter prefix of it."""
    return max(1, -(-limit // max(1, min(users_in_range, users or users_in_range))))


@dataclass(frozen=True, slots=True)
class ClaimPlan:
    """What one claim takes (`claim`: delivery ids in the order they are handed out) and what it parks
    (`park`: delivery id -> until when: the due work of users that must wait for an earlier delivery);
    `look_further`: nothing was claimed and users waiting for a retry were parked, so the next range
    may hold claimable work; `unpark`: the claimed deliveries that were parked."""

    claim: list[int]
    park: dict[int, float]
    look_further: bool = False
    unpark: list[int] = field(default_factory=list)


def plan_claim(
    candidates: Sequence[tuple[int, str | None]],
    queues: Mapping[str, Sequence[tuple[int, float, bool, bool]]],
    *,
    now: float,
    limit: int,
    users: int | None = None,
) -> ClaimPlan:
    """Per-user order for one mapping's claim, the same in both stores.

    `candidates`: `(id, user)` of due deliveries in due order (the claim's index range). `queues`: for
    each candidate's user, the head of its queue in event order as `(id, next_at, parked, leased)` rows.

    A user is blocked while one of its deliveries is neither due nor parked (leased, or waiting for a
    retry): nothing of it is claimed, and its due deliveries are parked until the earliest such delivery
    may change, so they leave the claim's range instead of filling it (a failing user never crowds out
    the others). A user blocked only by work in flight, which is usually answered within a second, is
    parked only when nothing else could be claimed: a claim that found work leaves it be, and saves the
    writes. Otherwise its queue is claimed from the head, parked deliveries included, as far as `limit`
    allows: always a prefix, so a later event never goes out before an earlier one. Deliveries without a
    user are claimed as they come. With `users`, at most that many users are claimed (a delivery
    without a user counts as one)."""
    claim: list[int] = []
    unpark: list[int] = []
    park: dict[int, float] = {}
    in_flight: dict[int, float] = {}  # parked only if nothing is claimed
    blocked: dict[str, tuple[float, bool]] = {}  # user -> (until when, only by work in flight)
    seen: set[str] = set()
    claimed_users = 0
    for delivery_id, user in candidates:
        if len(claim) >= limit or (users is not None and claimed_users >= users):
            break
        if user is None:
            claim.append(delivery_id)
            claimed_users += 1
        elif user in blocked:
            until, leased = blocked[user]  # a due delivery beyond the head read
            (in_flight if leased else park)[delivery_id] = until
        elif user not in seen:
            seen.add(user)
            queue = queues.get(user, ())
            blockers = [
                (next_at, leased) for _, next_at, parked, leased in queue if next_at > now and not parked
            ]
            if blockers:
                until, leased = min(b[0] for b in blockers), all(b[1] for b in blockers)
                blocked[user] = (until, leased)
                target = in_flight if leased else park
                target.update((row[0], until) for row in queue if row[1] <= now)
                target[delivery_id] = until
            elif queue:
                taken = queue[: limit - len(claim)]
                claim.extend(row[0] for row in taken)
                unpark.extend(row[0] for row in taken if row[2])
                claimed_users += 1
    look_further = not claim and bool(park)
    if not claim:
        park.update(in_flight)
    return ClaimPlan(claim, park, look_further, unpark)


def deliveries_from_rows(mapping: str, rows: Iterable[Sequence[Any]], order: Sequence[int]) -> list[Delivery]:
    """Claimed deliveries of `mapping` from `(id, event_id, attempts, first_attempt_at, received_at,
    user, payload)` rows, in the claim's `order` of ids (rows of ids not in it, gone meanwhile, are
    left out)."""
    by_id = {
        row[0]: Delivery(
            id=row[0],
            event_id=row[1],
            mapping=mapping,
            attempts=row[2],
            first_attempt_at=row[3],
            received_at=row[4],
            user=row[5],
            payload=bytes(row[6]),
        )
        for row in rows
    }
    return [by_id[i] for i in order if i in by_id]


def stored_events_from_rows(rows: Iterable[Sequence[Any]]) -> list[StoredEvent]:
    """Claimed events from `(id, received_at, payload, source)` rows, in id order."""
    events = [
        StoredEvent(id=row[0], received_at=row[1], payload=bytes(row[2]), source=row[3]) for row in rows
    ]
    events.sort(key=lambda e: e.id)
    return events


def queue_stats(
    now: float,
    *,
    unrouted: int,
    deliveries: Iterable[Sequence[Any]],
    dead_letters: Iterable[Sequence[Any]],
    oldest: float | None,
) -> QueueStats:
    """`QueueStats` from per-mapping rows: `(destination, mapping, in_flight, pending, retrying, oldest
    receipt time)` of the deliveries, `(destination, mapping, count)` of the dead letters, and the receipt
    time of the oldest waiting event."""
    per_mapping: dict[str, dict[str, int]] = {}
    queues: dict[str, dict[str, float]] = {}
    for destination, mapping, in_flight, pending, retrying, received_at in deliveries:
        counts = per_mapping.setdefault(mapping, dict.fromkeys(STATES, 0))
        counts.update(pending=int(pending), retrying=int(retrying), in_flight=int(in_flight))
        queue = queues.setdefault(
            destination, {"pending": 0, "in_flight": 0, "dead_letters": 0, "oldest": now}
        )
        queue["pending"] += int(pending)
        queue["in_flight"] += int(in_flight)
        queue["oldest"] = min(queue["oldest"], float(received_at))
    for destination, mapping, count in dead_letters:
        per_mapping.setdefault(mapping, dict.fromkeys(STATES, 0))["dead_letters"] = int(count)
        queue = queues.setdefault(
            destination, {"pending": 0, "in_flight": 0, "dead_letters": 0, "oldest": now}
        )
        queue["dead_letters"] += int(count)
    totals = {state: sum(counts[state] for counts in per_mapping.values()) for state in STATES}
    return QueueStats(
        unrouted=unrouted,
        pending=totals["pending"],
        retrying=totals["retrying"],
        in_flight=totals["in_flight"],
        dead_letters=totals["dead_letters"],
        oldest_pending_age=max(0.0, now - oldest) if oldest is not None else 0.0,
        per_mapping=per_mapping,
        per_destination={
            name: DestinationQueue(
                pending=int(q["pending"]),
                in_flight=int(q["in_flight"]),
                dead_letters=int(q["dead_letters"]),
                oldest_age=max(0.0, now - q["oldest"]),
            )
            for name, q in queues.items()
        },
    )


def retention_candidates(
    rows: Sequence[Sequence[Any]], *, cursor: int, chunk: int, budget: int, older_than: float
) -> tuple[list[int], int, bool]:
    """From `(id, received_at, routed)` rows in id order (a chunk of at most `chunk` rows after `cursor`):
    the routed events received before `older_than`, at most `budget` of them; the last id looked at; and
    whether the scan is finished (it reached events too recent, or the end)."""
    candidates: list[int] = []
    last = cursor
    finished = len(rows) < chunk
    for event_id, received_at, routed in rows:
        if received_at >= older_than or len(candidates) >= budget:
            finished = received_at >= older_than
            break
        last = event_id
        if routed:
            candidates.append(event_id)
    return candidates, last, finished


class RetentionScan:
    """The row-by-row retention walk: from the oldest event, chunk by chunk, stopping at the first event
    too recent; a cursor carries the position between calls past old events that must stay."""

    def __init__(self) -> None:
        self.cursor = 0

    def run(self, chunk: Callable[[int, int], tuple[int, int, bool]], budget: int) -> int:
        """Call `chunk(cursor, budget left)` -> (deleted, last id looked at, finished) until `budget`
        events are deleted, the scan finishes, or `RETENTION_MAX_SCAN` rows were looked at. Returns how
        many were deleted."""
        deleted = 0
        scanned = 0
        while deleted < budget and scanned < RETENTION_MAX_SCAN:
            cursor = self.cursor
            count, last, finished = chunk(cursor, budget - deleted)
            deleted += count
            scanned += max(0, last - cursor)
            self.cursor = 0 if finished else last
            if finished or last == cursor:
                break
        return deleted
