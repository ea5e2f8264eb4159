# Over 400 lines: one class implements the whole `Store` protocol in SQLite, each method one transaction;
# what both backends share is in queue/base.py.
"""`SQLiteStore`: the default `Store`, one SQLite file in WAL mode.

One write connection (serialised by a lock; SQLite allows one writer anyway) and one read connection for the
read-only queries (stats, dead-letter listings), so a slow count never blocks ingest. Every state change runs
in one `BEGIN IMMEDIATE` transaction committed before the method returns; several processes may open the
same file (writers take turns under SQLite's lock, waiting up to `busy_timeout`).

Design notes (see `queue/sqlite/schema.py` for the tables):
- A lease is `owner` + `lease_until`; work whose lease has expired is claimable again, so a process that dies
  holding work only delays it by the lease.
- A claimed delivery's `next_at` is its lease expiry, so "due" is a single index range (mapping, next_at).
- Deduplication looks up the batch's message ids with one query per source, inside the write transaction.
- Durability per transaction: the store's `synchronous` level (FULL by default) applies to what must survive
  a power failure once reported done: `append` (a 200 means on disk), dead-letter replay and purge, and
  `drop_user`. Claims, routes, acks, retries, releases, dead-lettering and retention commit with
  `synchronous=NORMAL` (no fsync of the WAL at commit): a power failure can only roll back the last of them,
  never corrupt the file, and each one lost is harmless. A lost claim is a lease never taken, a lost route
  leaves the event unrouted (routed again), a lost ack or dead letter leaves the delivery pending (sent
  again: at-least-once, as after any crash between sending and acking), a lost retry or release leaves a
  lease that expires. The WAL is append-only, so the next FULL commit makes every earlier one durable too.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import orjson

from gleap_actions.queue.base import (
    CLAIM_ROUNDS,
    COMPUTE_CURSOR,
    DEAD_LETTER_COLUMNS,
    ClaimPlan,
    RetentionScan,
    dead_letter_from_row,
    deliveries_from_rows,
    plan_claim,
    queue_depth,
    queue_stats,
    retention_candidates,
    stored_events_from_rows,
)
from gleap_actions.queue.erasure import Erasure, sqlite_placeholders
from gleap_actions.queue.profiles import ProfileStore, erase_user
from gleap_actions.queue.sqlite.files import create_private, warn_if_readable_by_others
from gleap_actions.queue.sqlite.schema import migrate
from gleap_actions.queue.store import (
    ALL_DEAD_LETTERS,
    DEFAULT_DEDUP_WINDOW,
    DeadLetter,
    DeadLetterFilter,
    Delivery,
    NewEvent,
    QueueStats,
    Route,
    StoredEvent,
    StoreFullError,
)

T = TypeVar("T")

# SQLite primary result codes that mean "cannot write now": clients should retry later (HTTP 503).
_CANNOT_WRITE = {
    sqlite3.SQLITE_FULL,
    sqlite3.SQLITE_READONLY,
    sqlite3.SQLITE_BUSY,
    sqlite3.SQLITE_LOCKED,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_PERM,
}

_WAL_CHECKPOINT_PAGES = 10_000
_RETENTION_CHUNK = 500  # rows per retention transaction: short enough never to stall ingest
_DEAD_LETTERS = f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters dl JOIN events e ON e.id = dl.event_id"


_INSERT_DELIVERY = (
    "INSERT INTO deliveries (event_id, mapping, received_at, next_at, user_key, ordered_at, message_id)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)"
)
# The head of each user's queue of one mapping, in event order (`queue.base.plan_claim`): a correlated
# LIMIT per user walks `deliveries_user`, so a user with a long backlog costs no more than its share.
_USER_QUEUES = (
    "SELECT d.user_key, d.id, d.next_at, d.parked, d.owner IS NOT NULL FROM json_each(?1) u JOIN deliveries d"
    " ON d.id IN (SELECT x.id FROM deliveries x WHERE x.mapping = ?2 AND x.user_key = u.value"
    " ORDER BY x.ordered_at, x.message_id LIMIT ?3)"
    " ORDER BY u.key, d.ordered_at, d.message_id"
)

_ANY_PARKED = "SELECT 1 FROM deliveries WHERE parked = 1 LIMIT 1"
_CLAIMABLE_UNROUTED = (
    "SELECT 1 FROM events WHERE routed = 0 AND (lease_until IS NULL OR lease_until <= ?) LIMIT 1"
)


def _ids(values: Sequence[int]) -> bytes:
    """A JSON array for `json_each(?)`: one bound parameter however many ids."""
    return orjson.dumps(list(values))


class _ProfileTx:
    """`queue.profiles.Tx` on the write connection (its `%s` placeholders as `?`)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> int:
        return self.conn.execute(sqlite_placeholders(sql), params).rowcount

    def fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple[object, ...]]:
        return self.conn.execute(sqlite_placeholders(sql), params).fetchall()

    def execute_many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self.conn.executemany(sqlite_placeholders(sql), rows)


def _cannot_write(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and (code & 0xFF) in _CANNOT_WRITE


class SQLiteStore:
    """The durable queue in one SQLite file (created with its directory if missing).

    `max_bytes` caps the database size (SQLite's `max_page_count`): beyond it writes raise `StoreFullError`,
    exactly as a full disk does. `synchronous="FULL"` makes every commit survive power loss, not just a
    process crash ("NORMAL" does the latter only, and is faster on slow disks).
    """

    routes_on_append = True

    def __init__(
        self,
        path: str | Path,
        *,
        max_bytes: int | None = None,
        synchronous: str = "FULL",
        busy_timeout: float = 5.0,
    ) -> None:
        if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA"}:
            raise ValueError("synchronous must be FULL, NORMAL or EXTRA")
        self._path = Path(path)
        self.location = str(path)  # where the queue is, as shown to users
        self._synchronous = synchronous.upper()
        self._relaxed = False  # the write connection is at synchronous=NORMAL
        self._write_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._retention = RetentionScan()
        try:
            create_private(self._path)
            warn_if_readable_by_others(self._path)
            self._conn = self._connect(busy_timeout, synchronous)
            migrate(self._conn)
            if max_bytes is not None:
                page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
                self._conn.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page_size)}")
            self._reader = self._connect(busy_timeout, synchronous)
        except sqlite3.Error as exc:
            if _cannot_write(exc):
                raise StoreFullError(f"cannot open the store at {self._path}: {exc}") from exc
            raise
        except OSError as exc:
            raise StoreFullError(f"cannot open the store at {self._path}: {exc}") from exc

    @property
    def profiles(self) -> ProfileStore:
        """The profile store of audiences and computed traits, in this file. Its writes commit at
        synchronous=NORMAL: a lost one is re-derived from the events queue (the cursor rolls back too)."""
        return ProfileStore(
            lambda body: self._write(lambda conn: body(_ProfileTx(conn)), durable=False),
            lambda body: self._read(lambda conn: body(_ProfileTx(conn))),
        )

    def _connect(self, busy_timeout: float, synchronous: str) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self._path, isolation_level=None, check_same_thread=False, timeout=busy_timeout
        )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        # Deleted content is overwritten with zeros, so a deleted user's data is not left in free pages.
        conn.execute("PRAGMA secure_delete = ON")
        # Checkpoint every 10,000 pages (about 40 MB of WAL) instead of 1,000: under load the default
        # checkpointed several times a second, each copy and fsync inside a commit holding the write lock.
        conn.execute(f"PRAGMA wal_autocheckpoint = {_WAL_CHECKPOINT_PAGES}")
        return conn

    # -- plumbing -------------------------------------------------------------------------------------

    def _write(self, body: Callable[[sqlite3.Connection], T], *, durable: bool = True) -> T:
        """Run `body` in one write transaction, committed before returning; with `durable` False, at
        synchronous=NORMAL (see the module docstring for which writes may be)."""
        with self._write_lock:
            conn = self._conn
            try:
                relax = not durable and self._synchronous != "NORMAL"
                if relax != self._relaxed:
                    conn.execute(f"PRAGMA synchronous = {'NORMAL' if relax else self._synchronous}")
                    self._relaxed = relax
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = body(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                if _cannot_write(exc):
                    raise StoreFullError(f"the store cannot write: {exc}") from exc
                raise
            return result

    def _read(self, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run read-only `body` on the read connection, in one snapshot."""
        with self._read_lock:
            conn = self._reader
            conn.execute("BEGIN")
            try:
                return body(conn)
            finally:
                conn.execute("COMMIT")

    # -- ingest ---------------------------------------------------------------------------------------

    def append(self, events: Sequence[NewEvent], *, dedup_window: float = DEFAULT_DEDUP_WINDOW) -> list[bool]:
        """Commit `events` in one transaction; False for each duplicate (not stored)."""
        if not events:
            return []

        def body(conn: sqlite3.Connection) -> list[bool]:
            message_ids: dict[str, list[str]] = {}
            for event in events:
                message_ids.setdefault(event.source, []).append(event.message_id)
            last_seen: dict[tuple[str, str], float] = {}
            for source, ids in message_ids.items():
                for message_id, seen_at in conn.execute(
                    "SELECT message_id, seen_at FROM dedup WHERE source = ? "
                    "AND message_id IN (SELECT value FROM json_each(?))",
                    (source, orjson.dumps(ids)),
                ):
                    last_seen[(source, message_id)] = seen_at
            accepted: list[bool] = []
            rows: list[tuple[str, str, str | None, str, float, bytes, int, float]] = []
            routes: list[Route | None] = []
            seen_rows: list[tuple[str, str, float, float]] = []
            for event in events:
                key = (event.source, event.message_id)
                previous = last_seen.get(key)
                if previous is not None and event.received_at - previous < dedup_window:
                    accepted.append(False)
                    continue
                last_seen[key] = event.received_at
                accepted.append(True)
                rows.append(
                    (
                        event.source,
                        event.message_id,
                        event.user_id,
                        event.type,
                        event.received_at,
                        event.payload,
                        event.route is not None,
                        event.order_time,
                    )
                )
                routes.append(event.route)
                seen_rows.append(
                    (event.source, event.message_id, event.received_at, event.received_at + dedup_window)
                )
            conn.executemany(
                "INSERT INTO events"
                " (source, message_id, user_id, type, received_at, payload, routed, ordered_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            if any(route is not None and route.mappings for route in routes):
                # AUTOINCREMENT under the write lock: this transaction's rows got consecutive ids.
                first_id = conn.execute("SELECT last_insert_rowid()").fetchone()[0] - len(rows) + 1
                conn.executemany(
                    _INSERT_DELIVERY,
                    [
                        (first_id + i, mapping, row[4], row[4], row[2], row[7], row[1])
                        for i, (row, route) in enumerate(zip(rows, routes, strict=True))
                        if route is not None
                        for mapping in dict.fromkeys(route.mappings)
                    ],
                )
            # REPLACE gives a re-seen id a new rowid, keeping rowid order = expiry order for retention.
            conn.executemany(
                "INSERT OR REPLACE INTO dedup (source, message_id, seen_at, expires_at) VALUES (?, ?, ?, ?)",
                seen_rows,
            )
            return accepted

        return self._write(body)

    # -- routing --------------------------------------------------------------------------------------

    def claim_unrouted(self, owner: str, limit: int, lease: float) -> list[StoredEvent]:
        """Claim up to `limit` unrouted events, oldest first, for `lease` seconds."""
        now = time.time()
        # Events are mostly routed at ingest: look on the read connection first rather than take the
        # write lock (ingest's) for nothing at every poll.
        if not self._read(lambda conn: conn.execute(_CLAIMABLE_UNROUTED, (now,)).fetchone()):
            return []

        def body(conn: sqlite3.Connection) -> list[StoredEvent]:
            rows = conn.execute(
                "UPDATE events SET owner = ?, lease_until = ? WHERE id IN ("
                " SELECT id FROM events WHERE routed = 0 AND (lease_until IS NULL OR lease_until <= ?)"
                " ORDER BY id LIMIT ?) RETURNING id, received_at, payload, source",
                (owner, now + lease, now, limit),
            ).fetchall()
            return stored_events_from_rows(rows)

        return self._write(body, durable=False)

    def route(self, routes: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Mark events routed and create their deliveries (events already routed are left alone)."""
        if not routes:
            return

        def body(conn: sqlite3.Connection) -> None:
            found = {
                row[0]: row[1:]
                for row in conn.execute(
                    "SELECT id, received_at, user_id, coalesce(ordered_at, received_at), message_id"
                    " FROM events WHERE routed = 0 AND id IN (SELECT value FROM json_each(?))",
                    (_ids([event_id for event_id, _ in routes]),),
                )
            }
            deliveries: list[tuple[object, ...]] = []
            for event_id, mappings in routes:
                event = found.pop(event_id, None)
                if event is None:
                    continue  # routed by someone else (lease expired) or dropped meanwhile
                received_at, user_id, ordered_at, message_id = event
                deliveries.extend(
                    (event_id, mapping, received_at, received_at, user_id, ordered_at, message_id)
                    for mapping in dict.fromkeys(mappings)
                )
            conn.executemany(
                "UPDATE events SET routed = 1, owner = NULL, lease_until = NULL WHERE id = ?",
                [(event_id,) for event_id, _ in routes],
            )
            conn.executemany(_INSERT_DELIVERY, deliveries)

        self._write(body, durable=False)

    # -- delivery -------------------------------------------------------------------------------------

    def claim_deliveries(
        self, owner: str, mapping: str, limit: int, lease: float, now: float, *, users: int | None = None
    ) -> list[Delivery]:
        """Claim up to `limit` due deliveries of `mapping`, oldest first, for `lease` seconds."""

        def plan(conn: sqlite3.Connection) -> ClaimPlan:
            candidates = conn.execute(
                "SELECT id, user_key FROM deliveries WHERE mapping = ? AND next_at <= ?"
                " ORDER BY next_at LIMIT ?",
                (mapping, now, limit),
            ).fetchall()
            keys = list(dict.fromkeys(user for _, user in candidates if user is not None))
            queues: dict[str, list[tuple[int, float, bool, bool]]] = {}
            if keys:
                depth = queue_depth(limit, len(keys), users)
                rows = conn.execute(_USER_QUEUES, (_ids(keys), mapping, depth))
                for user, row_id, next_at, parked, leased in rows:
                    queues.setdefault(user, []).append((row_id, next_at, bool(parked), bool(leased)))
            planned = plan_claim(candidates, queues, now=now, limit=limit, users=users)
            if planned.park:
                conn.executemany(
                    "UPDATE deliveries SET next_at = ?, parked = 1 WHERE id = ?",
                    [(until, row_id) for row_id, until in planned.park.items()],
                )
            return planned

        def body(conn: sqlite3.Connection) -> list[Delivery]:
            for _ in range(CLAIM_ROUNDS):
                planned = plan(conn)
                if not planned.look_further:
                    break
            if not planned.claim:
                return []
            if planned.unpark:  # apart, and only where set: writing `parked` costs an index check a row
                conn.execute(
                    "UPDATE deliveries SET parked = 0 WHERE id IN (SELECT value FROM json_each(?))",
                    (_ids(planned.unpark),),
                )
            claimed = conn.execute(
                "UPDATE deliveries SET owner = ?, lease_until = ?, next_at = ?"
                " WHERE id IN (SELECT value FROM json_each(?))"
                " RETURNING id, event_id, attempts, first_attempt_at, received_at, user_key",
                (owner, now + lease, now + lease, _ids(planned.claim)),
            ).fetchall()
            payloads = dict(
                conn.execute(
                    "SELECT id, payload FROM events WHERE id IN (SELECT value FROM json_each(?))",
                    (_ids([row[1] for row in claimed]),),
                ).fetchall()
            )
            rows = ((*row, payloads[row[1]]) for row in claimed)
            return deliveries_from_rows(mapping, rows, planned.claim)

        return self._write(body, durable=False)

    def due_mappings(self, now: float) -> dict[str, int]:
        """Mappings with deliveries due at `now`, with their counts."""

        def body(conn: sqlite3.Connection) -> dict[str, int]:
            due: dict[str, int] = {}
            row = conn.execute("SELECT min(mapping) FROM deliveries").fetchone()
            while row is not None and row[0] is not None:
                mapping = row[0]
                count = conn.execute(
                    "SELECT count(*) FROM deliveries WHERE mapping = ? AND next_at <= ?", (mapping, now)
                ).fetchone()[0]
                if count:
                    due[mapping] = count
                # Walk the distinct mappings through the index instead of scanning every row.
                row = conn.execute(
                    "SELECT min(mapping) FROM deliveries WHERE mapping > ?", (mapping,)
                ).fetchone()
            return due

        return self._read(body)

    def ack(self, delivery_ids: Sequence[int]) -> None:
        """The deliveries reached the destination: forget them; their users' parked work is due."""
        if delivery_ids:

            def body(conn: sqlite3.Connection) -> None:
                ids = _ids(delivery_ids)
                self._unpark(conn, ids)
                conn.execute("DELETE FROM deliveries WHERE id IN (SELECT value FROM json_each(?))", (ids,))

            self._write(body, durable=False)

    @staticmethod
    def _unpark(conn: sqlite3.Connection, ids: bytes) -> None:
        """Make the parked deliveries of the users of `ids` (about to leave the queue) due again."""
        if conn.execute(_ANY_PARKED).fetchone() is None:
            return  # the common case, answered by the (empty) partial index
        conn.execute(
            "UPDATE deliveries SET next_at = received_at, parked = 0 WHERE parked = 1"
            " AND (mapping, user_key) IN (SELECT mapping, user_key FROM deliveries"
            " WHERE id IN (SELECT value FROM json_each(?)) AND user_key IS NOT NULL)",
            (ids,),
        )

    def retry(self, delivery_ids: Sequence[int], *, at: float, error: str, now: float) -> None:
        """Count an attempt and schedule the next one at `at`."""
        if delivery_ids:
            self._write(
                lambda conn: conn.execute(
                    "UPDATE deliveries SET attempts = attempts + 1, last_error = ?, next_at = ?,"
                    " first_attempt_at = coalesce(first_attempt_at, ?), owner = NULL, lease_until = NULL"
                    " WHERE id IN (SELECT value FROM json_each(?))",
                    (error, at, now, _ids(delivery_ids)),
                ),
                durable=False,
            )

    def release(self, delivery_ids: Sequence[int]) -> None:
        """Give claimed deliveries back, due at once, without counting an attempt."""
        if delivery_ids:
            self._write(
                lambda conn: conn.execute(
                    "UPDATE deliveries SET next_at = received_at, owner = NULL, lease_until = NULL"
                    " WHERE id IN (SELECT value FROM json_each(?))",
                    (_ids(delivery_ids),),
                ),
                durable=False,
            )

    def release_orphans(self, alive: Callable[[str], bool]) -> int:
        """Give back, due at once, the work of every lease owner for which `alive(owner)` is False (a
        process killed while holding it), instead of waiting for its leases to expire. Returns how many
        events and deliveries were released."""

        def body(conn: sqlite3.Connection) -> int:
            queries = (  # routed events have no owner; the partial index keeps this scan small
                "SELECT DISTINCT owner FROM events WHERE routed = 0 AND owner IS NOT NULL",
                "SELECT DISTINCT owner FROM deliveries WHERE owner IS NOT NULL",
            )
            owners = {row[0] for query in queries for row in conn.execute(query)}
            released = 0
            for owner in sorted(o for o in owners if not alive(o)):
                released += conn.execute(
                    "UPDATE events SET owner = NULL, lease_until = NULL WHERE owner = ? AND routed = 0",
                    (owner,),
                ).rowcount
                released += conn.execute(
                    "UPDATE deliveries SET next_at = received_at, owner = NULL, lease_until = NULL"
                    " WHERE owner = ?",
                    (owner,),
                ).rowcount
            return released

        return self._write(body)

    def dead_letter(
        self, delivery_ids: Sequence[int], *, reason: str, status: int | None, request: str, response: str
    ) -> None:
        """Move deliveries to dead letters. `attempts` counts the failed attempt that ends them."""
        if not delivery_ids:
            return
        now = time.time()

        def body(conn: sqlite3.Connection) -> None:
            ids = _ids(delivery_ids)
            self._unpark(conn, ids)
            conn.execute(
                "INSERT INTO dead_letters"
                " (event_id, mapping, reason, status, request, response, created_at, attempts)"
                " SELECT event_id, mapping, ?, ?, ?, ?, ?, attempts + 1 FROM deliveries"
                " WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                (reason, status, request, response, now, ids),
            )
            conn.execute("DELETE FROM deliveries WHERE id IN (SELECT value FROM json_each(?))", (ids,))

        self._write(body, durable=False)

    # -- dead letters ---------------------------------------------------------------------------------

    def list_dead_letters(
        self, where: DeadLetterFilter = ALL_DEAD_LETTERS, *, limit: int = 100, after_id: int = 0
    ) -> list[DeadLetter]:
        """Dead letters in id order, those `where` chooses."""
        clauses, params = self._conditions(where, "dl.")
        sql = _DEAD_LETTERS + " WHERE " + " AND ".join(["dl.id > ?", *clauses]) + " ORDER BY dl.id LIMIT ?"
        return self._read(
            lambda conn: [dead_letter_from_row(row) for row in conn.execute(sql, [after_id, *params, limit])]
        )

    def get_dead_letter(self, dead_letter_id: int) -> DeadLetter | None:
        """One dead letter, or None."""
        row = self._read(
            lambda conn: conn.execute(_DEAD_LETTERS + " WHERE dl.id = ?", (dead_letter_id,)).fetchone()
        )
        return None if row is None else dead_letter_from_row(row)

    @staticmethod
    def _conditions(where: DeadLetterFilter, prefix: str = "") -> tuple[list[str], list[object]]:
        """The conditions (on columns named with `prefix`) and parameters of `where`."""
        tests = {
            "destination": f"{prefix}destination = ?",
            "mapping": f"{prefix}mapping = ?",
            "reason": f"instr(lower({prefix}reason), lower(?)) > 0",
            "status": f"{prefix}status = ?",
        }
        chosen = [(test, getattr(where, column)) for column, test in tests.items()]
        return (
            [test for test, value in chosen if value is not None],
            [value for _, value in chosen if value is not None],
        )

    @classmethod
    def _selection(cls, ids: Sequence[int] | None, where: DeadLetterFilter) -> tuple[str, list[object]]:
        """The WHERE clause choosing dead letters: the given ids and those `where` chooses, or all."""
        clauses, params = cls._conditions(where)
        if ids is not None:
            clauses.append("id IN (SELECT value FROM json_each(?))")
            params.append(_ids(ids))
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def replay_dead_letters(
        self, ids: Sequence[int] | None = None, *, where: DeadLetterFilter = ALL_DEAD_LETTERS
    ) -> int:
        """Turn dead letters back into pending deliveries (0 attempts, fresh retry window), due now."""
        clause, params = self._selection(ids, where)
        now = time.time()

        def body(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO deliveries"
                " (event_id, mapping, received_at, next_at, user_key, ordered_at, message_id)"
                " SELECT dl.event_id, dl.mapping, e.received_at, ?, e.user_id,"
                " coalesce(e.ordered_at, e.received_at), e.message_id FROM dead_letters dl"
                " JOIN events e ON e.id = dl.event_id"
                f" WHERE dl.id IN (SELECT id FROM dead_letters{clause}) ORDER BY dl.id",
                [now, *params],
            )
            return conn.execute(f"DELETE FROM dead_letters{clause}", params).rowcount

        return self._write(body)

    def purge_dead_letters(
        self, ids: Sequence[int] | None = None, *, where: DeadLetterFilter = ALL_DEAD_LETTERS
    ) -> int:
        """Delete dead letters (the given ids and those `where` chooses, or all)."""
        clause, params = self._selection(ids, where)
        return self._write(lambda conn: conn.execute(f"DELETE FROM dead_letters{clause}", params).rowcount)

    # -- privacy, stats, retention --------------------------------------------------------------------

    def user_sources(self, user_id: str) -> list[str]:
        """The source ids of the user's stored events."""
        return self._read(
            lambda conn: [
                str(row[0])
                for row in conn.execute(
                    "SELECT DISTINCT source FROM events WHERE user_id = ? ORDER BY source", (user_id,)
                )
            ]
        )

    def drop_user(self, user_id: str) -> int:
        """Delete every stored event of `user_id` with its deliveries and dead letters, and their profile
        (`queue/profiles.py`).

        Delivered events still kept for retention are deleted too (they hold the user's data); returns how
        many of the deleted events were not delivered yet.
        """

        def body(conn: sqlite3.Connection) -> int:
            rows = conn.execute("SELECT id, payload FROM events WHERE user_id = ?", (user_id,)).fetchall()
            ids = _ids([row[0] for row in rows])
            undelivered = conn.execute(
                "SELECT count(*) FROM events e WHERE e.id IN (SELECT value FROM json_each(?))"
                " AND (e.routed = 0 OR EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id))",
                (ids,),
            ).fetchone()[0]
            for table in ("deliveries", "dead_letters"):
                conn.execute(
                    f"DELETE FROM {table} WHERE event_id IN (SELECT value FROM json_each(?))", (ids,)
                )
            Erasure.of(user_id, (row[1] for row in rows)).erase_records(
                lambda sql: conn.execute(sqlite_placeholders(sql)).fetchall(),
                lambda sql, values: conn.executemany(sqlite_placeholders(sql), values),
            )
            erase_user(_ProfileTx(conn), user_id)
            conn.execute("DELETE FROM events WHERE id IN (SELECT value FROM json_each(?))", (ids,))
            return int(undelivered)

        dropped = self._write(body)
        # Deleted rows are zeroed (secure_delete); the WAL's older copies of them go with a truncation.
        with self._write_lock:
            self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return dropped

    def destination(self) -> str | None:
        """The destination the queued work was accepted for, or None."""
        row = self._read(lambda conn: conn.execute("SELECT name FROM destination").fetchone())
        return None if row is None else str(row[0])

    def set_destination(self, destination: str, *, discard_pending: bool = False) -> int:
        """Record `destination`, first dropping undelivered work when `discard_pending`."""

        def body(conn: sqlite3.Connection) -> int:
            dropped = 0
            if discard_pending:
                dropped = conn.execute("DELETE FROM deliveries").rowcount
                # Unrouted events become routed with no delivery: done, and purged by retention.
                dropped += conn.execute("UPDATE events SET routed = 1 WHERE routed = 0").rowcount
            conn.execute(
                "INSERT OR REPLACE INTO destination (id, name, recorded_at) VALUES (1, ?, ?)",
                (destination, time.time()),
            )
            return dropped

        return self._write(body)

    def stats(self, now: float) -> QueueStats:
        """Queue depth and age, per mapping (states: pending, retrying, in_flight, dead_letters)."""

        def body(conn: sqlite3.Connection) -> QueueStats:
            unrouted = conn.execute("SELECT count(*) FROM events WHERE routed = 0").fetchone()[0]
            deliveries = conn.execute(
                "SELECT destination, mapping,"
                " sum(owner IS NOT NULL AND lease_until > :now),"
                " sum(owner IS NULL OR lease_until <= :now),"
                " sum((owner IS NULL OR lease_until <= :now) AND attempts > 0),"
                " min(received_at)"
                " FROM deliveries GROUP BY mapping",
                {"now": now},
            ).fetchall()
            dead = conn.execute(
                "SELECT destination, mapping, count(*) FROM dead_letters GROUP BY mapping"
            ).fetchall()
            oldest = [
                row[0]
                for row in (
                    conn.execute(
                        "SELECT received_at FROM events WHERE routed = 0 ORDER BY id LIMIT 1"
                    ).fetchone(),
                    conn.execute("SELECT received_at FROM deliveries ORDER BY event_id LIMIT 1").fetchone(),
                )
                if row is not None
            ]
            return queue_stats(
                now,
                unrouted=unrouted,
                deliveries=deliveries,
                dead_letters=dead,
                oldest=min(oldest) if oldest else None,
            )

        return self._read(body)

    def purge_delivered(self, older_than: float, *, limit: int = 10000) -> int:
        """Retention: delete up to `limit` fully delivered events received before `older_than`, and
        expired dedup entries, a few hundred rows per transaction. Returns how many events.

        Fully delivered = routed, no delivery pending and no dead letter (dead letters keep their event for
        replay). Ids follow arrival order, so the scan walks from the oldest and stops at the first event
        too recent; a cursor carries the position between calls past undeliverable old events.
        """
        deleted = self._retention.run(
            lambda cursor, budget: self._write(
                lambda conn: self._purge_chunk(conn, cursor=cursor, budget=budget, older_than=older_than),
                durable=False,
            ),
            limit,
        )
        self._purge_dedup()
        return deleted

    @staticmethod
    def _purge_chunk(
        conn: sqlite3.Connection, *, cursor: int, budget: int, older_than: float
    ) -> tuple[int, int, bool]:
        """One retention transaction over the events after `cursor`: (deleted, last id looked at, whether
        the scan reached events too recent or the end)."""
        rows = conn.execute(
            "SELECT id, received_at, routed FROM events"
            f" WHERE id > ? AND id <= coalesce({COMPUTE_CURSOR}, id) ORDER BY id LIMIT ?",
            (cursor, _RETENTION_CHUNK),
        ).fetchall()
        candidates, last, finished = retention_candidates(
            rows, cursor=cursor, chunk=_RETENTION_CHUNK, budget=budget, older_than=older_than
        )
        count = conn.execute(
            "DELETE FROM events WHERE id IN (SELECT value FROM json_each(?))"
            " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = events.id)"
            " AND NOT EXISTS (SELECT 1 FROM dead_letters x WHERE x.event_id = events.id)",
            (_ids(candidates),),
        ).rowcount
        return count, last, finished

    def _purge_dedup(self) -> None:
        """Delete expired dedup entries from the front (oldest rowids), chunk by chunk."""
        now = time.time()
        while True:

            def body(conn: sqlite3.Connection) -> bool:
                rows = conn.execute(
                    "SELECT rowid, expires_at FROM dedup ORDER BY rowid LIMIT ?", (_RETENTION_CHUNK,)
                ).fetchall()
                expired = [rowid for rowid, expires_at in rows if expires_at < now]
                conn.execute(
                    "DELETE FROM dedup WHERE rowid IN (SELECT value FROM json_each(?))", (_ids(expired),)
                )
                return len(rows) == _RETENTION_CHUNK and len(expired) == len(rows)

            if not self._write(body, durable=False):
                return

    def close(self) -> None:
        """Close both connections (the WAL is checkpointed by SQLite when the last one closes)."""
        with self._write_lock, self._read_lock:
            self._reader.close()
            self._conn.close()
