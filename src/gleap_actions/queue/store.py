"""The store interface: the durable queue between ingest and delivery.

Implementations: `queue.sqlite.store.SQLiteStore` (default, one WAL file) and
`queue.postgres.store.PostgresStore` (shared by many nodes); `queue.factory.open_store` opens one as a
`Backend` (the store with what its backend offers).
Methods are synchronous and thread-safe; asyncio callers run them in a worker thread. Every method that
changes state commits before it returns, so a `kill -9` after a call loses nothing it reported done.

Lifecycle of an event: `append` (new, unrouted) -> `claim_unrouted` + `route` (one delivery per matching
mapping, or none when filtered) -> `claim_deliveries` -> `ack` | `retry` | `dead_letter` | `release`.
A node that ingests and delivers decides the routes at ingest (`NewEvent.route`) when the backend
`routes_on_append`: `append` then writes the deliveries in the ingest transaction and the router's two
transactions are skipped for those events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from gleap_actions.events import iso_seconds
from gleap_actions.queue.profiles import ProfileStore

DEFAULT_DEDUP_WINDOW = 86400.0  # seconds a message id is remembered (Segment's 24 hours)
DEFAULT_LEASE = 120.0  # seconds claimed work stays with its owner before another may take it over
DEFAULT_RETENTION = 604800.0  # seconds delivered events are kept (7 days)


@dataclass(frozen=True, slots=True)
class Route:
    """Where an event goes: the mappings that deliver it, or why it goes nowhere."""

    mappings: tuple[str, ...]
    filtered: str | None = None  # "integrations" or "no_matching_mapping" when `mappings` is empty


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An accepted, normalised Segment event, ready to be stored."""

    source: str  # stable id of the write key it came with (never the key itself)
    message_id: str
    user_id: str | None
    type: str
    received_at: float  # Unix seconds
    payload: bytes  # the normalised event as JSON
    route: Route | None = None  # decided at ingest; None leaves the event to the router
    ordered_at: float | None = None  # the event's `timestamp` (Unix seconds): per-user delivery order

    @classmethod
    def from_event(
        cls,
        event: dict[str, Any],
        *,
        source: str,
        received_at: float,
        payload: bytes | None = None,
        route: Route | None = None,
    ) -> NewEvent:
        """The stored form of a normalised event (`payload`: its JSON, when already serialised)."""
        user_id = event.get("userId")
        timestamp = event.get("timestamp")
        return cls(
            source=source,
            message_id=event["messageId"],
            user_id=user_id if isinstance(user_id, str) and user_id else None,
            type=event["type"],
            received_at=received_at,
            payload=payload if payload is not None else orjson.dumps(event),
            route=route,
            ordered_at=iso_seconds(timestamp) if isinstance(timestamp, str) else None,
        )

    @property
    def order_time(self) -> float:
        """When the event happened, for per-user order: its timestamp, else its receipt."""
        return self.received_at if self.ordered_at is None else self.ordered_at


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event claimed for routing."""

    id: int
    received_at: float
    payload: bytes
    source: str = ""  # the source id it was appended with (`NewEvent.source`): routing depends on it


@dataclass(frozen=True, slots=True)
class Delivery:
    """One (event, mapping) pair to deliver, claimed under a lease."""

    id: int
    event_id: int
    mapping: str
    attempts: int  # attempts made before this claim
    first_attempt_at: float | None
    received_at: float
    payload: bytes
    user: str | None = None  # the event's userId: one user's deliveries of a mapping go out in order


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A delivery that failed for good, with everything needed to understand and replay it."""

    id: int
    event_id: int
    mapping: str
    reason: str
    status: int | None
    request: str  # the request as JSON, secrets redacted
    response: str
    created_at: float
    attempts: int
    payload: bytes
    destination: str = "default"  # the destination part of `mapping` (a delivery key)


@dataclass(frozen=True, slots=True)
class DeadLetterFilter:
    """Which dead letters: of one destination, one delivery key, with a reason containing a text
    (case-insensitive), one HTTP status (None: any)."""

    destination: str | None = None
    mapping: str | None = None  # a delivery key (`route.delivery_key`)
    reason: str | None = None  # e.g. "HTTP 400", "unconfigured"
    status: int | None = None


ALL_DEAD_LETTERS = DeadLetterFilter()


@dataclass(frozen=True, slots=True)
class DestinationQueue:
    """One destination's share of the queue: what waits, and since when."""

    pending: int = 0  # deliveries waiting (including retries), in flight excluded
    in_flight: int = 0
    dead_letters: int = 0
    oldest_age: float = 0.0  # seconds the oldest waiting or in-flight delivery's event has been queued


@dataclass(frozen=True, slots=True)
class QueueStats:
    """Counts for /metrics, /admin and readiness."""

    unrouted: int
    pending: int  # deliveries waiting (including those scheduled for retry)
    retrying: int  # deliveries with attempts > 0 still pending
    in_flight: int
    dead_letters: int
    oldest_pending_age: float  # seconds, 0 when empty
    per_mapping: dict[str, dict[str, int]] = field(default_factory=dict)  # mapping -> state -> count
    per_destination: dict[str, DestinationQueue] = field(default_factory=dict)


class StoreFullError(Exception):
    """The store cannot write (disk full, read-only, locked for too long): ingest answers 503."""


class Store(Protocol):
    """The durable queue. See the module docstring for the lifecycle."""

    location: str  # where the queue is, safe to show (a file, or a URL without credentials)

    def append(self, events: Sequence[NewEvent], *, dedup_window: float = DEFAULT_DEDUP_WINDOW) -> list[bool]:
        """Commit `events` in one transaction. Returns, per event, False when it is a duplicate
        (same source and message_id seen within `dedup_window` seconds; it is then not stored), True
        otherwise. Raises StoreFullError when nothing could be written.

        With `routes_on_append`, an event with a `route` is stored routed, with one pending delivery per
        mapping of the route, in the same transaction; otherwise (PostgresStore for now) the route is
        ignored. An event without a route is left unrouted for the router."""
        ...

    def claim_unrouted(self, owner: str, limit: int, lease: float) -> list[StoredEvent]:
        """Claim up to `limit` unrouted events, oldest first, for `lease` seconds. Expired leases of
        other owners (a dead process) are claimable again."""
        ...

    def route(self, routes: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Mark claimed events routed and create one pending delivery per (event, mapping name).
        An event with no mappings (filtered) is routed and done."""
        ...

    def claim_deliveries(
        self, owner: str, mapping: str, limit: int, lease: float, now: float, *, users: int | None = None
    ) -> list[Delivery]:
        """Claim up to `limit` pending deliveries of `mapping` whose next attempt is due at `now`,
        oldest first, for `lease` seconds (expired leases are claimable again).

        Per-user order (`queue/base.py` `plan_claim`): the deliveries of one user (`Delivery.user`) are
        claimed as a prefix of that user's queue in event order (timestamp, then message id), returned
        together in that order; a user with a delivery leased or waiting for a retry is skipped and its
        due deliveries are parked until then, so they neither overtake it nor crowd out other users.
        With `users`, the deliveries of at most that many users are claimed."""
        ...

    def due_mappings(self, now: float) -> dict[str, int]:
        """Mappings that have deliveries due at `now`, with their counts."""
        ...

    def ack(self, delivery_ids: Sequence[int]) -> None:
        """The deliveries reached the destination (their users' parked deliveries are due again)."""
        ...

    def retry(self, delivery_ids: Sequence[int], *, at: float, error: str, now: float) -> None:
        """Count an attempt, remember the error and schedule the next attempt at `at`
        (first_attempt_at is set at the first retry)."""
        ...

    def release(self, delivery_ids: Sequence[int]) -> None:
        """Give claimed deliveries back without counting an attempt (graceful shutdown, pause)."""
        ...

    def release_orphans(self, alive: Callable[[str], bool]) -> int:
        """Give back, due at once, the work of every lease owner for which `alive(owner)` is False (a
        process of this host killed while holding it) instead of waiting for its leases to expire.
        Returns how many events and deliveries were released (0 when leases alone decide)."""
        ...

    def dead_letter(
        self, delivery_ids: Sequence[int], *, reason: str, status: int | None, request: str, response: str
    ) -> None:
        """Move deliveries to dead letters with their reason, redacted request and response (their
        users' parked deliveries are due again: a dead-lettered head releases the rest)."""
        ...

    def list_dead_letters(
        self, where: DeadLetterFilter = ALL_DEAD_LETTERS, *, limit: int = 100, after_id: int = 0
    ) -> list[DeadLetter]:
        """Dead letters in id order, those `where` chooses (through an index on destination or key)."""
        ...

    def get_dead_letter(self, dead_letter_id: int) -> DeadLetter | None:
        """One dead letter, or None."""
        ...

    def replay_dead_letters(
        self, ids: Sequence[int] | None = None, *, where: DeadLetterFilter = ALL_DEAD_LETTERS
    ) -> int:
        """Turn dead letters (the given ids and those `where` chooses; all by default) back into pending
        deliveries with a fresh retry window. Returns how many."""
        ...

    def purge_dead_letters(
        self, ids: Sequence[int] | None = None, *, where: DeadLetterFilter = ALL_DEAD_LETTERS
    ) -> int:
        """Delete dead letters (the given ids and those `where` chooses; all by default). Returns how
        many."""
        ...

    @property
    def profiles(self) -> ProfileStore:
        """The profile store of audiences and computed traits (`queue/profiles.py`), in the same database."""
        ...

    def user_sources(self, user_id: str) -> list[str]:
        """The source ids (`NewEvent.source`) of the user's stored events (kept until retention), sorted.
        Read through the index on user ids; nothing is written at ingest for it."""
        ...

    def drop_user(self, user_id: str) -> int:
        """Delete every stored event of the user (delivered ones kept for retention too), with their
        deliveries and dead letters, and their profile. Returns how many events were not delivered yet."""
        ...

    def stats(self, now: float) -> QueueStats:
        """Queue depth and age, per mapping (delivery key) and per destination."""
        ...

    def destination(self) -> str | None:
        """The destination the queued work was accepted for (`GleapSettings.destination`: base URL and
        token fingerprint, never a token), or None when none was recorded yet."""
        ...

    def set_destination(self, destination: str, *, discard_pending: bool = False) -> int:
        """Record `destination` as the one queued work is for. With `discard_pending`, first drop every
        undelivered delivery and unrouted event (dead letters stay, to be replayed or purged on purpose).
        Returns how many deliveries and unrouted events were dropped."""
        ...

    def purge_delivered(self, older_than: float, *, limit: int = 10000) -> int:
        """Retention: delete up to `limit` fully delivered events received before `older_than` (and
        expired dedup entries), in small transactions so ingest never stalls. Returns how many.
        Events the compute stage has not read yet are kept, however old (`base.COMPUTE_CURSOR`).
        (`PostgresStore` also drops whole old generations of events, which may count more than `limit`.)"""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
