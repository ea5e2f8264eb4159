# Over 400 lines: one class implements the whole `Store` protocol in PostgreSQL, with its retention by
# generations; what both backends share is in queue/base.py.
"""`PostgresStore`: the `Store` in PostgreSQL, shared by any number of ingest and delivery processes.

The model is RudderStack's jobsdb: PostgreSQL as the queue. Every method is one transaction on a pooled
connection, committed before it returns (see `queue/postgres/migrations.py` for the tables and why they
are split); most are a single statement, so a call costs one round trip.

- Ingest: one `append` is one statement fed by arrays (`unnest`), whatever the batch size. Dedup is an
  `INSERT ... ON CONFLICT DO UPDATE ... WHERE <outside the window> RETURNING` on the (source, message_id)
  primary key, so two nodes receiving the same message id concurrently serialise on the key and exactly
  one of them stores the event. Keys are inserted in sorted order so that two batches sharing keys lock
  them in the same order and cannot deadlock (a deadlock or serialisation failure from anything else is
  retried).
- Claims: `SELECT ... ORDER BY ... LIMIT n FOR UPDATE SKIP LOCKED` then an update setting the lease, in one
  statement. Concurrent claimers skip each other's rows instead of waiting, and never get the same row.
  A lease is `owner` + `lease_until`; work of a dead node is claimable again once its lease expired.
  Unrouted leases use the database clock (one clock for every node); delivery leases use the `now` the
  caller passes, so nodes are expected to keep their clocks in sync (NTP), far within a lease.
- Retention: `events` is partitioned by generation and old generations are dropped whole, after their few
  undelivered events moved on (RudderStack's rotating datasets; see `purge_delivered`).
- Errors: disk full (53100), any other resource shortage (class 53), a read-only server (25006, e.g. a
  standby after failover), a server shutting down (57) and a connection lost or refused raise
  `StoreFullError`: the caller answers 503 and the client retries (a retried batch whose commit did
  happen is then recognised by dedup).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, LiteralString, TypeVar

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus

from gleap_actions.queue import base
from gleap_actions.queue.erasure import Erasure
from gleap_actions.queue.postgres.migrations import migrate
from gleap_actions.queue.postgres.pool import Connection, ConnectionPool
from gleap_actions.queue.profiles import ProfileStore, erase_user
from gleap_actions.queue.store import (
    ALL_DEAD_LETTERS,
    DEFAULT_DEDUP_WINDOW,
    DeadLetter,
    DeadLetterFilter,
    Delivery,
    NewEvent,
    QueueStats,
    StoredEvent,
    StoreFullError,
)

T = TypeVar("T")

_CONFLICT_RETRIES = 5  # deadlocks and serialisation failures are retried this many times
_RETENTION_CHUNK = 1000  # rows per retention transaction: short enough never to stall ingest
_MIN_GENERATION_AGE = 60.0  # the default rotation opens at most one generation a minute
_DEFAULT_GENERATION_ROWS = 5_000_000

# Event ids come from a sequence, so a transaction can commit an id lower than one already visible: the
# profile store reads only events stored this long ago (appends are one short statement).
_PROFILE_SETTLE = 1.0

_DB_NOW = "extract(epoch FROM clock_timestamp())::float8"
_SEQUENCE_POSITION = "(SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM event_ids)"
# Retention (rotation and retirement) runs on one node at a time; the others skip it.
_RETENTION_TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext('gleap_actions.retention:' || current_schema()))"
_RETENTION_UNLOCK = "SELECT pg_advisory_unlock(hashtext('gleap_actions.retention:' || current_schema()))"
# DDL waits this long at most for its lock: while it waits, every query on `events` queues behind it.
_LOCK_TIMEOUT = "SET LOCAL lock_timeout = '1s'"

# Appending, as data-modifying CTEs over the batch's rows (numbered in arrival order). The dedup upsert
# inserts keys in sorted order, so two batches sharing keys lock them in the same order and cannot
# deadlock; events are inserted in arrival order, so ids follow arrival. Each returns the numbers of the
# rows that are new (not duplicates).
_INPUT = (
    "input AS (SELECT * FROM unnest(%(sources)s::text[], %(message_ids)s::text[], %(user_ids)s::text[],"
    " %(types)s::text[], %(received)s::float8[], %(payloads)s::bytea[], %(ordered)s::float8[])"
    " WITH ORDINALITY AS i(source, message_id, user_id, type, received_at, payload, ordered_at, n))"
)
_FRESH = (
    "fresh AS (INSERT INTO dedup AS d (source, message_id, seen_at, expires_at)"
    " SELECT source, message_id, received_at, received_at + %(window)s FROM input ORDER BY source, message_id"
    " ON CONFLICT (source, message_id) DO UPDATE"
    " SET seen_at = excluded.seen_at, expires_at = excluded.expires_at"
    " WHERE excluded.seen_at - d.seen_at >= %(window)s RETURNING source, message_id),"
    " kept AS (SELECT input.* FROM input JOIN fresh USING (source, message_id))"
)
_QUEUE = (
    "new AS (INSERT INTO events"
    " (generation, source, message_id, user_id, type, received_at, payload, ordered_at)"
    " SELECT (SELECT max(id) FROM generations), source, message_id, user_id, type, received_at, payload,"
    " ordered_at FROM {rows} ORDER BY n RETURNING id),"
    " queued AS (INSERT INTO unrouted (event_id) SELECT id FROM new)"
)
# Dedup and store in one statement (the common case: no message id twice in the batch).
_APPEND: LiteralString = f"WITH {_INPUT}, {_FRESH}, {_QUEUE.format(rows='kept')} SELECT n FROM kept"
# Dedup only, and store only: a batch repeating an id dedups round by round, then stores in one go.
_DEDUP: LiteralString = f"WITH {_INPUT}, {_FRESH} SELECT n FROM kept"
_STORE: LiteralString = f"WITH {_INPUT}, {_QUEUE.format(rows='input')} SELECT count(*) FROM new"

# The users of one mapping this transaction may claim: those whose claim lock it gets (held until commit;
# a hash collision only makes a claim skip a user once).
_LOCK_USERS: LiteralString = (
    "SELECT u.key FROM unnest(%(users)s::text[]) AS u(key)"
    " WHERE pg_try_advisory_xact_lock(hashtext('gleap_actions.claim:' || %(mapping)s), hashtext(u.key))"
)
# The head of each user's queue of one mapping, in event order (`base.plan_claim`): `limit` rows a user
# at most (its share of the claim), through `deliveries_user`.
_USER_QUEUES: LiteralString = (
    "SELECT u.key, d.id, d.next_at, d.parked, d.owner IS NOT NULL"
    " FROM unnest(%(users)s::text[]) WITH ORDINALITY AS u(key, n)"
    " CROSS JOIN LATERAL (SELECT x.id, x.next_at, x.parked, x.owner, x.ordered_at, x.message_id"
    " FROM deliveries x"
    " WHERE x.mapping = %(mapping)s AND x.user_key = u.key ORDER BY x.ordered_at, x.message_id"
    " LIMIT %(limit)s) d ORDER BY u.n, d.ordered_at, d.message_id"
)
# After deliveries left the queue (`gone`: their mapping and user_key): their users' parked work is due.
_UNPARK: LiteralString = (
    " UPDATE deliveries d SET next_at = d.received_at, parked = false"
    " FROM (SELECT DISTINCT mapping, user_key FROM gone WHERE user_key IS NOT NULL) g"
    " WHERE d.parked AND d.mapping = g.mapping AND d.user_key = g.user_key"
)

# Dead letters chosen by id, destination, delivery key, reason and status (each NULL: any).
_DEAD_LETTER_WHERE = (
    " WHERE (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s::bigint[]))"
    " AND (%(destination)s::text IS NULL OR destination = %(destination)s::text)"
    " AND (%(mapping)s::text IS NULL OR mapping = %(mapping)s::text)"
    " AND (%(reason)s::text IS NULL OR strpos(lower(reason), lower(%(reason)s::text)) > 0)"
    " AND (%(status)s::integer IS NULL OR status = %(status)s::integer)"
)
# A page of the chosen dead letters after id %(after)s, with their events.
_DEAD_LETTER_PAGE: LiteralString = (
    f"SELECT {base.DEAD_LETTER_COLUMNS} FROM (SELECT * FROM dead_letters{_DEAD_LETTER_WHERE}"
    " AND id > %(after)s ORDER BY id LIMIT %(limit)s) dl JOIN events e ON e.id = dl.event_id ORDER BY dl.id"
)
_DEAD_LETTER_SELECT: LiteralString = (
    f"SELECT {base.DEAD_LETTER_COLUMNS} FROM dead_letters dl JOIN events e ON e.id = dl.event_id"
)


def describe(url: str) -> str:
    """The URL without credentials, for messages and logs: `postgresql://host:port/dbname`."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unparseable URL)"
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    return f"postgresql://{host}:{port}/{parts.get('dbname') or ''}"


def _cannot_write(exc: psycopg.Error) -> bool:
    """Errors that mean "cannot write now, retry later" rather than a bug."""
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True  # connection lost or refused, class 53 (resources), 55 (lock timeout), 57 (shutdown)
    return exc.sqlstate == "25006"  # read-only SQL transaction: a standby, or read-only by configuration


class PostgresStore:
    """The durable queue in a PostgreSQL database, safe to share between processes and machines.

    The schema is created or migrated on open (under an advisory lock, so nodes starting together do not
    race). `pool_size` bounds this instance's connections; each method holds one for its transaction.
    A new generation of events is opened when the newest is `rotate_after` seconds old (None: a quarter
    of the retention, see `purge_delivered`) or holds `rotate_rows` events.
    """

    routes_on_append = False  # events are routed by the router (`NewEvent.route` is not stored)

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 4,
        connect_timeout: float = 5.0,
        rotate_after: float | None = None,
        rotate_rows: int = _DEFAULT_GENERATION_ROWS,
    ) -> None:
        self.location = describe(url)
        self._rotate_after = rotate_after
        self._rotate_rows = rotate_rows
        self._pool = ConnectionPool(url, size=pool_size, connect_timeout=connect_timeout)
        self._retention = base.RetentionScan()
        try:
            with self._pool.connection() as conn:
                migrate(conn)
        except psycopg.Error as exc:
            self._pool.close()
            if _cannot_write(exc):
                raise StoreFullError(f"cannot open the store at {self.location}: {exc}") from exc
            raise

    @property
    def profiles(self) -> ProfileStore:
        """The profile store of audiences and computed traits, in this database."""
        return ProfileStore(
            lambda body: self._write(lambda conn: body(_ProfileTx(conn))),
            lambda body: self._read(lambda conn: body(_ProfileTx(conn))),
            settle=_PROFILE_SETTLE,
        )

    # -- plumbing -------------------------------------------------------------------------------------

    def _write(self, body: Callable[[Connection], T], *, transaction: bool = True) -> T:
        """Run `body` in one transaction, committed before returning; conflicts are retried.

        `transaction=False` is for a body of one statement, atomic on its own: it saves the BEGIN and
        COMMIT round trips."""
        for attempt in range(_CONFLICT_RETRIES):
            try:
                with self._pool.connection() as conn:
                    if not transaction:
                        return body(conn)
                    with conn.transaction():
                        return body(conn)
            except (errors.DeadlockDetected, errors.SerializationFailure) as exc:
                if attempt == _CONFLICT_RETRIES - 1:
                    raise StoreFullError(f"the store is too contended to write: {exc}") from exc
            except psycopg.Error as exc:
                if _cannot_write(exc):
                    raise StoreFullError(f"the store cannot write: {exc}") from exc
                raise
        raise AssertionError("unreachable")

    def _fetch(
        self, sql: LiteralString, params: Sequence[object] | dict[str, object]
    ) -> list[tuple[Any, ...]]:
        """One writing statement (atomic by itself); returns its rows."""
        return self._write(lambda conn: conn.execute(sql, params).fetchall(), transaction=False)

    def _execute(self, sql: LiteralString, params: Sequence[object] | dict[str, object]) -> int:
        """One writing statement (atomic by itself); returns the affected row count."""
        return self._write(lambda conn: conn.execute(sql, params).rowcount, transaction=False)

    def _read(self, body: Callable[[Connection], T]) -> T:
        """Run read-only `body`, several statements, in one snapshot."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            return body(conn)

    def _query(self, sql: LiteralString, params: Sequence[object]) -> list[tuple[Any, ...]]:
        """One read-only statement (its own snapshot): no transaction round trips."""
        with self._pool.connection() as conn:
            return conn.execute(sql, params).fetchall()

    # -- ingest ---------------------------------------------------------------------------------------

    def append(self, events: Sequence[NewEvent], *, dedup_window: float = DEFAULT_DEDUP_WINDOW) -> list[bool]:
        """Commit `events` in one transaction; False for each duplicate (not stored).

        One statement per batch: dedup upsert, event insert and queue insert as data-modifying CTEs. A
        batch that repeats a message id dedups in rounds (round k: the k-th occurrence of each id), so no
        statement sees a key twice and later occurrences are judged against the earlier ones as if
        appended one by one; then it stores what was kept in arrival order, all in one transaction.
        """
        if not events:
            return []
        rounds: list[list[int]] = []
        seen: dict[tuple[str, str], int] = {}
        for index, event in enumerate(events):
            key = (event.source, event.message_id)
            occurrence = seen.get(key, 0)
            seen[key] = occurrence + 1
            if occurrence == len(rounds):
                rounds.append([])
            rounds[occurrence].append(index)
        if len(rounds) == 1:
            rows = self._fetch(_APPEND, _append_params(events, dedup_window))
            accepted = [False] * len(events)
            for (number,) in rows:
                accepted[number - 1] = True
            return accepted

        def body(conn: Connection) -> list[bool]:
            accepted = [False] * len(events)
            for indices in rounds:
                rows = conn.execute(_DEDUP, _append_params([events[i] for i in indices], dedup_window))
                for (number,) in rows.fetchall():
                    accepted[indices[number - 1]] = True
            kept = [event for event, ok in zip(events, accepted, strict=True) if ok]
            conn.execute(_STORE, _append_params(kept, dedup_window))
            return accepted

        return self._write(body)

    # -- routing --------------------------------------------------------------------------------------

    def claim_unrouted(self, owner: str, limit: int, lease: float) -> list[StoredEvent]:
        """Claim up to `limit` unrouted events, oldest first, for `lease` seconds (database clock)."""
        rows = self._fetch(
            f"WITH clock AS (SELECT {_DB_NOW} AS now),"
            " free AS (SELECT u.event_id FROM unrouted u, clock WHERE u.lease_until <= clock.now"
            " ORDER BY u.event_id LIMIT %s FOR UPDATE OF u SKIP LOCKED)"
            " UPDATE unrouted u SET owner = %s, lease_until = clock.now + %s"
            " FROM free, clock, events e WHERE u.event_id = free.event_id AND e.id = u.event_id"
            " RETURNING e.id, e.received_at, e.payload, e.source",
            (limit, owner, lease),
        )
        return base.stored_events_from_rows(rows)

    def route(self, routes: Sequence[tuple[int, Sequence[str]]]) -> None:
        """Mark events routed and create their deliveries (events already routed are left alone)."""
        if not routes:
            return
        event_ids: list[int] = []
        mappings: list[str | None] = []
        for event_id, names in routes:
            for mapping in dict.fromkeys(names) or [None]:  # None: filtered, routed with no delivery
                event_ids.append(event_id)
                mappings.append(mapping)
        self._execute(
            "WITH r AS (SELECT * FROM unnest(%s::bigint[], %s::text[])"
            " WITH ORDINALITY AS r(event_id, mapping, n)),"
            # Only events still unrouted: one routed meanwhile (its lease expired) or dropped is left alone.
            " done AS (DELETE FROM unrouted WHERE event_id IN (SELECT event_id FROM r) RETURNING event_id)"
            " INSERT INTO deliveries"
            " (event_id, mapping, received_at, next_at, user_key, ordered_at, message_id)"
            " SELECT r.event_id, r.mapping, e.received_at, e.received_at, e.user_id,"
            " coalesce(e.ordered_at, e.received_at), e.message_id"
            " FROM r JOIN done USING (event_id) JOIN events e ON e.id = r.event_id"
            " WHERE r.mapping IS NOT NULL ORDER BY r.n",
            (event_ids, mappings),
        )

    # -- delivery -------------------------------------------------------------------------------------

    def claim_deliveries(
        self, owner: str, mapping: str, limit: int, lease: float, now: float, *, users: int | None = None
    ) -> list[Delivery]:
        """Claim up to `limit` due deliveries of `mapping`, oldest first, for `lease` seconds.

        One transaction: the due range, then the queues of its users, each user under a transaction-level
        advisory lock taken with `try` (a user another node is claiming right now is left to it, so two
        nodes never hold parts of one user's queue), then the claim and the parking (`base.plan_claim`).
        The claim re-checks the lease of each row, so a row without a user is never claimed twice."""

        def plan(conn: Connection) -> base.ClaimPlan:
            candidates = conn.execute(
                "SELECT id, user_key FROM deliveries WHERE mapping = %s AND next_at <= %s"
                " ORDER BY next_at, id LIMIT %s",
                (mapping, now, limit),
            ).fetchall()
            keys = list(dict.fromkeys(user for _, user in candidates if user is not None))
            queues: dict[str, list[tuple[int, float, bool, bool]]] = {}
            if keys:
                # Locked first, read after (a new snapshot): a claim that held a lock is seen committed.
                locked = [row[0] for row in conn.execute(_LOCK_USERS, {"users": keys, "mapping": mapping})]
                depth = base.queue_depth(limit, len(keys), users)
                params = {"users": locked, "mapping": mapping, "limit": depth}
                for user, row_id, next_at, parked, leased in conn.execute(_USER_QUEUES, params).fetchall():
                    queues.setdefault(user, []).append((row_id, next_at, parked, leased))
                # Users another claim holds are skipped, as if absent from the range.
                held = set(locked)
                candidates = [(i, u) for i, u in candidates if u is None or u in held]
            planned = base.plan_claim(candidates, queues, now=now, limit=limit, users=users)
            if planned.park:
                conn.execute(
                    "UPDATE deliveries d SET next_at = p.until, parked = true"
                    " FROM unnest(%s::bigint[], %s::float8[]) AS p(id, until) WHERE d.id = p.id",
                    (list(planned.park), list(planned.park.values())),
                )
            return planned

        def body(conn: Connection) -> list[Delivery]:
            for _ in range(base.CLAIM_ROUNDS):
                planned = plan(conn)
                if not planned.look_further:
                    break
            if not planned.claim:
                return []
            rows = conn.execute(
                "UPDATE deliveries d SET owner = %s, lease_until = %s, next_at = %s, parked = false"
                " FROM events e WHERE d.id = ANY(%s) AND e.id = d.event_id AND d.lease_until <= %s"
                " RETURNING d.id, d.event_id, d.attempts, d.first_attempt_at, d.received_at, d.user_key,"
                " e.payload",
                (owner, now + lease, now + lease, planned.claim, now),
            ).fetchall()
            return base.deliveries_from_rows(mapping, rows, planned.claim)

        return self._write(body)

    def due_mappings(self, now: float) -> dict[str, int]:
        """Mappings with deliveries due at `now`, with their counts."""
        # Walks the distinct mappings through the (mapping, next_at) index instead of scanning every row.
        rows = self._query(
            "WITH RECURSIVE m(mapping) AS ("
            " SELECT min(mapping) FROM deliveries"
            " UNION ALL SELECT (SELECT min(mapping) FROM deliveries d WHERE d.mapping > m.mapping)"
            " FROM m WHERE m.mapping IS NOT NULL)"
            " SELECT m.mapping,"
            " (SELECT count(*) FROM deliveries d WHERE d.mapping = m.mapping AND d.next_at <= %s)"
            " FROM m WHERE m.mapping IS NOT NULL",
            (now,),
        )
        return {mapping: count for mapping, count in rows if count}

    def ack(self, delivery_ids: Sequence[int]) -> None:
        """The deliveries reached the destination: forget them; their users' parked work is due."""
        if delivery_ids:
            self._execute(
                "WITH gone AS (DELETE FROM deliveries WHERE id = ANY(%s) RETURNING mapping, user_key)"
                + _UNPARK,
                (list(delivery_ids),),
            )

    def retry(self, delivery_ids: Sequence[int], *, at: float, error: str, now: float) -> None:
        """Count an attempt and schedule the next one at `at`."""
        if delivery_ids:
            self._execute(
                "UPDATE deliveries SET attempts = attempts + 1, last_error = %s, next_at = %s,"
                " first_attempt_at = coalesce(first_attempt_at, %s), owner = NULL, lease_until = 0"
                " WHERE id = ANY(%s)",
                (error, at, now, list(delivery_ids)),
            )

    def release(self, delivery_ids: Sequence[int]) -> None:
        """Give claimed deliveries back, due at once, without counting an attempt."""
        if delivery_ids:
            self._execute(
                "UPDATE deliveries SET next_at = received_at, owner = NULL, lease_until = 0"
                " WHERE id = ANY(%s)",
                (list(delivery_ids),),
            )

    def release_orphans(self, alive: Callable[[str], bool]) -> int:
        """Nothing to do: nodes sharing the database may live on other hosts, so their leases decide."""
        return 0

    def dead_letter(
        self, delivery_ids: Sequence[int], *, reason: str, status: int | None, request: str, response: str
    ) -> None:
        """Move deliveries to dead letters. `attempts` counts the failed attempt that ends them."""
        if delivery_ids:
            self._execute(
                "WITH gone AS (DELETE FROM deliveries WHERE id = ANY(%s)"
                " RETURNING id, event_id, mapping, attempts, user_key),"
                " moved AS (INSERT INTO dead_letters"
                " (event_id, mapping, reason, status, request, response, created_at, attempts)"
                " SELECT event_id, mapping, %s::text, %s::integer, %s::text, %s::text, %s::float8,"
                " attempts + 1 FROM gone ORDER BY id)" + _UNPARK,
                (list(delivery_ids), reason, status, request, response, time.time()),
            )

    # -- dead letters ---------------------------------------------------------------------------------

    def list_dead_letters(
        self, where: DeadLetterFilter = ALL_DEAD_LETTERS, *, limit: int = 100, after_id: int = 0
    ) -> list[DeadLetter]:
        """Dead letters in id order, those `where` chooses."""
        params = {**_filter_params(None, where), "after": after_id, "limit": limit}
        rows = self._read(lambda conn: conn.execute(_DEAD_LETTER_PAGE, params).fetchall())
        return [base.dead_letter_from_row(row) for row in rows]

    def get_dead_letter(self, dead_letter_id: int) -> DeadLetter | None:
        """One dead letter, or None."""
        rows = self._query(_DEAD_LETTER_SELECT + " WHERE dl.id = %s", (dead_letter_id,))
        return base.dead_letter_from_row(rows[0]) if rows else None

    def replay_dead_letters(
        self, ids: Sequence[int] | None = None, *, where: DeadLetterFilter = ALL_DEAD_LETTERS
    ) -> int:
        """Turn dead letters back into pending deliveries (0 attempts, fresh retry window), due now."""

        def body(conn: Connection) -> int:
            row = conn.execute(
                "WITH chosen AS (DELETE FROM dead_letters"
                + _DEAD_LETTER_WHERE
                + " RETURNING id, event_id, mapping),"
                " again AS (INSERT INTO deliveries"
                " (event_id, mapping, received_at, next_at, user_key, ordered_at, message_id)"
                " SELECT c.event_id, c.mapping, e.received_at, %(now)s, e.user_id,"
                " coalesce(e.ordered_at, e.received_at), e.message_id"
                " FROM chosen c JOIN events e ON e.id = c.event_id ORDER BY c.id)"
                " SELECT count(*) FROM chosen",
                {**_filter_params(ids, where), "now": time.time()},
            ).fetchone()
            return int(row[0]) if row else 0

        return self._write(body)

    def purge_dead_letters(
        self, ids: Sequence[int] | None = None, *, where: DeadLetterFilter = ALL_DEAD_LETTERS
    ) -> int:
        """Delete dead letters (the given ids and those `where` chooses, or all)."""
        return self._execute("DELETE FROM dead_letters" + _DEAD_LETTER_WHERE, _filter_params(ids, where))

    # -- privacy, stats, retention --------------------------------------------------------------------

    def user_sources(self, user_id: str) -> list[str]:
        """The source ids of the user's stored events."""
        rows = self._query(
            "SELECT DISTINCT source FROM events WHERE user_id = %s ORDER BY source", (user_id,)
        )
        return [str(row[0]) for row in rows]

    def drop_user(self, user_id: str) -> int:
        """Delete every stored event of `user_id` with its deliveries and dead letters, and their profile
        (`queue/profiles.py`).

        Delivered events still kept for retention are deleted too (they hold the user's data); returns how
        many of the deleted events were not delivered yet.
        """

        def body(conn: Connection) -> int:
            rows = conn.execute(
                "WITH gone AS (DELETE FROM events WHERE user_id = %s RETURNING id, payload),"
                " d1 AS (DELETE FROM deliveries WHERE event_id IN (SELECT id FROM gone) RETURNING event_id),"
                " d2 AS (DELETE FROM dead_letters WHERE event_id IN (SELECT id FROM gone)),"
                " d3 AS (DELETE FROM unrouted WHERE event_id IN (SELECT id FROM gone) RETURNING event_id)"
                " SELECT payload, id IN (SELECT event_id FROM d1 UNION SELECT event_id FROM d3) FROM gone",
                (user_id,),
            ).fetchall()
            Erasure.of(user_id, (row[0] for row in rows)).erase_records(
                lambda sql: conn.execute(sql).fetchall(), conn.cursor().executemany
            )
            erase_user(_ProfileTx(conn), user_id)
            return sum(1 for row in rows if row[1])

        return self._write(body)

    def destination(self) -> str | None:
        """The destination the queued work was accepted for, or None."""
        rows = self._query("SELECT name FROM destination", ())
        return None if not rows else str(rows[0][0])

    def set_destination(self, destination: str, *, discard_pending: bool = False) -> int:
        """Record `destination`, first dropping undelivered work when `discard_pending`."""

        def body(conn: Connection) -> int:
            dropped = 0
            if discard_pending:
                dropped = conn.execute("DELETE FROM deliveries").rowcount
                dropped += conn.execute("DELETE FROM unrouted").rowcount
            conn.execute(
                "INSERT INTO destination (id, name, recorded_at) VALUES (1, %s, extract(epoch FROM now()))"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name, recorded_at = excluded.recorded_at",
                (destination,),
            )
            return dropped

        return self._write(body)

    def stats(self, now: float) -> QueueStats:
        """Queue depth and age, per mapping (states: pending, retrying, in_flight, dead_letters)."""

        def body(conn: Connection) -> QueueStats:
            unrouted_row = conn.execute("SELECT count(*) FROM unrouted").fetchone()
            deliveries = conn.execute(
                "SELECT destination, mapping,"
                " count(*) FILTER (WHERE owner IS NOT NULL AND lease_until > %(now)s),"
                " count(*) FILTER (WHERE owner IS NULL OR lease_until <= %(now)s),"
                " count(*) FILTER (WHERE (owner IS NULL OR lease_until <= %(now)s) AND attempts > 0),"
                " min(received_at)"
                " FROM deliveries GROUP BY destination, mapping",
                {"now": now},
            ).fetchall()
            dead = conn.execute(
                "SELECT destination, mapping, count(*) FROM dead_letters GROUP BY destination, mapping"
            ).fetchall()
            oldest_row = conn.execute(
                "SELECT least("
                " (SELECT e.received_at FROM unrouted u JOIN events e ON e.id = u.event_id"
                "  ORDER BY u.event_id LIMIT 1),"
                " (SELECT received_at FROM deliveries ORDER BY event_id LIMIT 1))"
            ).fetchone()
            return base.queue_stats(
                now,
                unrouted=int(unrouted_row[0]) if unrouted_row else 0,
                deliveries=deliveries,
                dead_letters=dead,
                oldest=None if oldest_row is None else oldest_row[0],
            )

        return self._read(body)

    def purge_delivered(self, older_than: float, *, limit: int = 10000) -> int:
        """Retention by rotation (RudderStack's rotating datasets): drop whole old generations of events,
        and expired dedup entries. Returns how many events were removed.

        Events go to the newest generation (a partition of `events`). Each call first opens a new
        generation when the newest one is old enough (`rotate_after`; by default a quarter of the
        retention this call implies, `now - older_than`, at least a minute) or big enough
        (`rotate_rows`). Then every closed generation closed before `older_than` (so all its events are
        older) is retired: its survivors (events still unrouted, with a delivery pending or a dead letter:
        few) move to the newest generation, keeping their ids, and the partition is detached and dropped.
        The delivered mass goes in O(1), leaving no dead rows, no bloat and no vacuum debt; ingest waits
        only for the brief exclusive lock of the detach (bounded by a lock timeout: a busy table is
        retried at the next call). A delivered event is thus kept between the retention and the
        retention plus one generation's age, and a generation with events the compute stage has not
        read yet is kept until it has (`base.COMPUTE_CURSOR`).

        `limit` bounds the rows a call handles one by one (survivors moved, rows deleted), not the rows it
        drops: a generation is dropped whole and all its events are counted, so the count may exceed
        `limit`; a generation with more survivors than the budget is emptied of them over several calls.
        Events of the newest generation, which is never dropped, are purged row by row as the `Store`
        contract says (fully delivered, received before `older_than`, oldest id first, up to `limit`):
        with the default rotation none are old enough in steady state, so this only handles events
        appended with old receipt times and survivors delivered or purged after their move.

        Rotation and retirement run under a per-schema advisory lock, so with several nodes one does
        them at a time and the others skip them.
        """
        removed, moved = self._rotate_and_retire(older_than, limit)
        deleted = self._retention.run(
            lambda cursor, budget: self._write(
                lambda conn: self._purge_chunk(conn, cursor=cursor, budget=budget, older_than=older_than)
            ),
            limit - moved,
        )
        self._purge_dedup()
        return removed + deleted

    def _rotate_and_retire(self, older_than: float, budget: int) -> tuple[int, int]:
        """Open a new generation if due and retire the closed ones closed before `older_than`; returns
        (events dropped, survivors moved). Skipped while another node holds the retention lock."""
        try:
            with self._pool.connection() as conn:
                locked = conn.execute(_RETENTION_TRY_LOCK).fetchone()
                if locked is None or not locked[0]:
                    return 0, 0
                removed = moved = 0
                try:
                    self._rotate(conn, older_than)
                    for (generation,) in conn.execute(
                        "SELECT id FROM generations g WHERE closed_at < %s AND NOT EXISTS (SELECT 1"
                        f" FROM events e WHERE e.generation = g.id AND e.id > {base.COMPUTE_CURSOR})"
                        " ORDER BY id",
                        (older_than,),
                    ).fetchall():
                        dropped, count = self._retire(conn, generation, budget - moved)
                        removed += dropped or 0
                        moved += count
                        if dropped is None:
                            break
                except errors.LockNotAvailable:
                    pass  # `events` is busy (a long query): the rest waits for the next call
                finally:
                    if not conn.closed and conn.info.transaction_status == TransactionStatus.IDLE:
                        conn.execute(_RETENTION_UNLOCK)
                return removed, moved
        except psycopg.Error as exc:
            if _cannot_write(exc):
                raise StoreFullError(f"the store cannot write: {exc}") from exc
            raise

    def _rotate(self, conn: Connection, older_than: float) -> None:
        """Open generation N+1 when generation N is old or big enough (and not empty)."""
        rotate_after = self._rotate_after
        if rotate_after is None:
            rotate_after = max(_MIN_GENERATION_AGE, (time.time() - older_than) / 4)
        with conn.transaction():
            row = conn.execute(
                f"SELECT id, {_DB_NOW} - opened_at, {_SEQUENCE_POSITION} - first_id"
                " FROM generations ORDER BY id DESC LIMIT 1"
            ).fetchone()
            assert row is not None, "the migration creates generation 1"
            current, age, rows = row
            if rows <= 0 or (age < rotate_after and rows < self._rotate_rows):
                return
            conn.execute(_LOCK_TIMEOUT)
            conn.execute(
                sql.SQL(
                    "CREATE TABLE {} PARTITION OF events (PRIMARY KEY (id)) FOR VALUES IN ({}) WITH ("
                    "autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02)"
                ).format(_partition(current + 1), sql.Literal(current + 1))
            )
            conn.execute(
                "INSERT INTO generations (id, opened_at, first_id)"
                f" VALUES (%s, {_DB_NOW}, {_SEQUENCE_POSITION})",
                (current + 1,),
            )
            conn.execute(f"UPDATE generations SET closed_at = {_DB_NOW} WHERE id = %s", (current,))

    def _retire(self, conn: Connection, generation: int, budget: int) -> tuple[int | None, int]:
        """Move the survivors of closed `generation` to the newest one, then detach and drop its
        partition. Returns (events dropped, or None when survivors are left for a later call, survivors
        moved)."""
        partition = _partition(generation)
        moved = 0
        attached = self._partition_attached(conn, generation)
        if attached:
            while True:  # the bulk of the survivors, in short transactions that do not block anyone
                step = min(_RETENTION_CHUNK, budget - moved)
                if step <= 0:
                    return None, moved
                with conn.transaction():
                    count = self._move_survivors(conn, generation, step)
                moved += count
                if count < step:
                    break
            with conn.transaction():
                # Under the lock, nothing reads or writes `events`: move what arrived meanwhile (an append
                # racing the rotation), then detach. Eligible events never become survivors again.
                conn.execute(_LOCK_TIMEOUT)
                conn.execute("LOCK TABLE events IN ACCESS EXCLUSIVE MODE")
                moved += self._move_survivors(conn, generation, None)
                conn.execute(sql.SQL("ALTER TABLE events DETACH PARTITION {}").format(partition))
        dropped = 0
        with conn.transaction():  # detached: counting and dropping it no longer holds anyone up
            if attached is not None:  # None: already gone (dropped by hand)
                row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(partition)).fetchone()
                dropped = int(row[0]) if row else 0
                conn.execute(sql.SQL("DROP TABLE {}").format(partition))
            conn.execute("DELETE FROM generations WHERE id = %s", (generation,))
        return dropped, moved

    @staticmethod
    def _partition_attached(conn: Connection, generation: int) -> bool | None:
        """Whether the generation's partition is still attached (a crash between detaching and dropping
        leaves it detached: the retirement resumes there), None when it does not exist."""
        row = conn.execute(
            "SELECT c.relispartition FROM pg_class c WHERE c.oid = to_regclass(%s)",
            (f"events_g{generation}",),
        ).fetchone()
        return None if row is None else bool(row[0])

    @staticmethod
    def _move_survivors(conn: Connection, generation: int, limit: int | None) -> int:
        """Move up to `limit` (None: all) events of `generation` that must outlive it to the newest
        generation. Survivors are found from the small queue tables, within the generation's id range."""
        row = conn.execute(
            "SELECT min(id), max(id) FROM events WHERE generation = %s", (generation,)
        ).fetchone()
        if row is None or row[0] is None:
            return 0
        low, high = row
        return conn.execute(
            "UPDATE events SET generation = (SELECT max(id) FROM generations)"
            " WHERE generation = %(g)s AND id IN (SELECT s.event_id FROM ("
            " SELECT event_id FROM unrouted WHERE event_id BETWEEN %(low)s AND %(high)s"
            " UNION SELECT event_id FROM deliveries WHERE event_id BETWEEN %(low)s AND %(high)s"
            " UNION SELECT event_id FROM dead_letters WHERE event_id BETWEEN %(low)s AND %(high)s) s"
            " JOIN events e ON e.id = s.event_id AND e.generation = %(g)s"
            " ORDER BY s.event_id LIMIT %(limit)s)",
            {"g": generation, "low": low, "high": high, "limit": limit},
        ).rowcount

    @staticmethod
    def _purge_chunk(
        conn: Connection, *, cursor: int, budget: int, older_than: float
    ) -> tuple[int, int, bool]:
        """One transaction of row-by-row retention in the newest generation, over its events after
        `cursor`: (deleted, last id looked at, whether the scan reached events too recent or the end)."""
        rows = conn.execute(
            "SELECT e.id, e.received_at, NOT EXISTS (SELECT 1 FROM unrouted u WHERE u.event_id = e.id)"
            " FROM events e WHERE e.generation = (SELECT max(id) FROM generations) AND e.id > %s"
            f" AND e.id <= coalesce({base.COMPUTE_CURSOR}, e.id) ORDER BY e.id LIMIT %s",
            (cursor, _RETENTION_CHUNK),
        ).fetchall()
        candidates, last, finished = base.retention_candidates(
            rows, cursor=cursor, chunk=_RETENTION_CHUNK, budget=budget, older_than=older_than
        )
        if not candidates:
            return 0, last, finished
        count = conn.execute(
            "DELETE FROM events e WHERE e.id = ANY(%s)"
            " AND NOT EXISTS (SELECT 1 FROM unrouted u WHERE u.event_id = e.id)"
            " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id)"
            " AND NOT EXISTS (SELECT 1 FROM dead_letters x WHERE x.event_id = e.id)",
            (candidates,),
        ).rowcount
        return count, last, finished

    def _purge_dedup(self) -> None:
        """Delete expired dedup entries, oldest expiry first, chunk by chunk."""
        now = time.time()
        while True:
            count = self._execute(
                "DELETE FROM dedup WHERE ctid = ANY(ARRAY("
                " SELECT ctid FROM dedup WHERE expires_at < %s ORDER BY expires_at LIMIT %s))"
                " AND expires_at < %s",
                (now, _RETENTION_CHUNK, now),
            )
            if count < _RETENTION_CHUNK:
                return

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.close()


class _ProfileTx:
    """`queue.profiles.Tx` on a pooled connection inside its transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def execute(self, sql: LiteralString, params: Sequence[object] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    def fetch(self, sql: LiteralString, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def execute_many(self, sql: LiteralString, rows: Sequence[Sequence[object]]) -> None:
        self.conn.cursor().executemany(sql, rows)


def _partition(generation: int) -> sql.Identifier:
    return sql.Identifier(f"events_g{generation}")


def _append_params(events: Sequence[NewEvent], window: float) -> dict[str, object]:
    return {
        "sources": [e.source for e in events],
        "message_ids": [e.message_id for e in events],
        "user_ids": [e.user_id for e in events],
        "types": [e.type for e in events],
        "received": [e.received_at for e in events],
        "payloads": [e.payload for e in events],
        "ordered": [e.order_time for e in events],
        "window": window,
    }


def _filter_params(ids: Sequence[int] | None, where: DeadLetterFilter) -> dict[str, object]:
    """The parameters of `_DEAD_LETTER_WHERE`."""
    return {
        "ids": _list(ids),
        "destination": where.destination,
        "mapping": where.mapping,
        "reason": where.reason,
        "status": where.status,
    }


def _list(ids: Sequence[int] | None) -> list[int] | None:
    return None if ids is None else list(ids)
