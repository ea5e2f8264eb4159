"""The PostgreSQL store's schema, as an ordered list of migrations.

Version N of the schema is the result of applying `MIGRATIONS[:N]`. Append new migrations to the list (never
edit a released one). `migrate` applies the missing ones in one transaction under an advisory lock, so any
number of nodes starting at once apply each migration exactly once. The tables live in the first schema of
the connection's `search_path` (e.g. `?options=-csearch_path%3Dqueue` in the URL); the lock is per schema.

Tables (hot, frequently updated state is kept apart from the large immutable payloads):
- `events`: accepted events, insert-only, list-partitioned by `generation` (RudderStack's rotating
  datasets): new events go to the newest generation's partition `events_g<N>`; retention drops whole old
  partitions instead of deleting rows (see `PostgresStore.purge_delivered`). Never updated (except to move
  the few survivors of a retired generation), so claims do not rewrite payloads. `id` comes from the
  `event_ids` sequence, so it is unique across partitions (a move keeps it). Each partition has its own
  primary key on `id`, which serves every lookup by id and tells the planner that an id is one row; the
  parent has none, as a partitioned table's key would have to include `generation`.
- `generations`: one row per partition of `events` (opened and closed on the database clock, the sequence
  position when it opened); the newest one receives new events.
- `unrouted`: events waiting for the router, with their lease (`lease_until` 0 = free). Deleted on routing.
- `deliveries`: pending (event, mapping) work, small rows. Delivered work is deleted. `next_at` is when it can
  be claimed: the event's receipt time when new (claims go oldest event first), the retry time after a
  failure, the lease expiry while claimed, and, while `parked`, when the user's delivery it waits for may
  change. `user_key`, `ordered_at`, `message_id`: the user and the event order of per-user order.
- `dead_letters`: deliveries that failed for good; the event row is kept for replay. In both, `mapping` is
  the delivery key (`route.delivery_key`) and `destination` its destination part (a generated column).
- `dedup`: (source, message_id) seen within the window; the primary key makes dedup hold across nodes.
- `rate_limits`: shared token buckets (`queue/postgres/ratelimit.py`), one row per Gleap endpoint of a
  limited destination project, with its adaptive rate.
- `destination`: one row, where the queued work is meant to go (base URL and token fingerprint).
- `profiles`, `profile_ids`, `profile_events`, `profile_values`, `computations`, `profile_cursor`: the
  profile store of audiences and computed traits (see `queue/profiles.py`).

Autovacuum is tuned per table for queue churn: the small hot tables are vacuumed after 1% of their rows
changed (instead of 20%), so dead tuples left by claims, acks and retention are reclaimed quickly and the
space reused; `fillfactor` leaves room on each page for updates to stay on the page.
"""

from __future__ import annotations

from typing import LiteralString

import psycopg

from gleap_actions.queue.base import DEAD_LETTER_INDEXES, DELIVERY_ORDER_INDEXES, POSTGRES_DESTINATION
from gleap_actions.queue.profiles import profile_tables

MIGRATIONS: list[LiteralString] = [
    # 1: the initial schema.
    f"""
    CREATE TABLE events (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        source TEXT NOT NULL,
        message_id TEXT NOT NULL,
        user_id TEXT,
        type TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        payload BYTEA NOT NULL
    ) WITH (autovacuum_vacuum_scale_factor = 0.02, autovacuum_analyze_scale_factor = 0.02);
    CREATE INDEX events_user ON events (user_id) WHERE user_id IS NOT NULL;

    CREATE TABLE unrouted (
        event_id BIGINT PRIMARY KEY,
        owner TEXT,
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0
    ) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000);

    CREATE TABLE deliveries (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id BIGINT NOT NULL,
        mapping TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        next_at DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        first_attempt_at DOUBLE PRECISION,
        last_error TEXT,
        owner TEXT,
        lease_until DOUBLE PRECISION NOT NULL DEFAULT 0
    ) WITH (fillfactor = 70, autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000);
    CREATE INDEX deliveries_due ON deliveries (mapping, next_at, event_id);
    CREATE INDEX deliveries_event ON deliveries (event_id);

    CREATE TABLE dead_letters (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id BIGINT NOT NULL,
        mapping TEXT NOT NULL,
        reason TEXT NOT NULL,
        status INTEGER,
        request TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL,
        attempts INTEGER NOT NULL
    );
    {DEAD_LETTER_INDEXES}

    CREATE TABLE dedup (
        source TEXT NOT NULL,
        message_id TEXT NOT NULL,
        seen_at DOUBLE PRECISION NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (source, message_id)
    ) WITH (fillfactor = 80, autovacuum_vacuum_scale_factor = 0.02);
    CREATE INDEX dedup_expiry ON dedup (expires_at);

    CREATE TABLE rate_limits (
        key TEXT PRIMARY KEY,
        tokens DOUBLE PRECISION NOT NULL,
        updated_at DOUBLE PRECISION NOT NULL,
        blocked_until DOUBLE PRECISION NOT NULL DEFAULT 0
    ) WITH (fillfactor = 50);
    """,
    # 2: due deliveries are claimed in (next_at, id) order, ties in creation order as in the SQLite store.
    """
    DROP INDEX deliveries_due;
    CREATE INDEX deliveries_due ON deliveries (mapping, next_at, id);
    """,
    # 3: events partitioned by generation. The existing table becomes generation 1 as it is, with its
    # indexes (attached, not copied: the upgrade only scans it once to check the partition constraint).
    """
    ALTER TABLE events RENAME TO events_g1;
    ALTER INDEX events_user RENAME TO events_g1_user;
    ALTER INDEX events_pkey RENAME TO events_g1_pkey;
    CREATE SEQUENCE event_ids AS BIGINT;
    SELECT setval('event_ids', last_value, is_called) FROM events_id_seq;  -- ids are never reused
    ALTER TABLE events_g1 ALTER COLUMN id DROP IDENTITY;
    ALTER TABLE events_g1 ADD COLUMN generation INTEGER NOT NULL DEFAULT 1;
    ALTER TABLE events_g1 ALTER COLUMN generation DROP DEFAULT;

    CREATE TABLE events (
        id BIGINT NOT NULL DEFAULT nextval('event_ids'),
        generation INTEGER NOT NULL,
        source TEXT NOT NULL,
        message_id TEXT NOT NULL,
        user_id TEXT,
        type TEXT NOT NULL,
        received_at DOUBLE PRECISION NOT NULL,
        payload BYTEA NOT NULL
    ) PARTITION BY LIST (generation);
    ALTER SEQUENCE event_ids OWNED BY events.id;
    CREATE INDEX events_user ON events (user_id) WHERE user_id IS NOT NULL;
    ALTER TABLE events ATTACH PARTITION events_g1 FOR VALUES IN (1);

    CREATE TABLE generations (
        id INTEGER PRIMARY KEY,
        opened_at DOUBLE PRECISION NOT NULL,
        first_id BIGINT NOT NULL,
        closed_at DOUBLE PRECISION
    );
    INSERT INTO generations (id, opened_at, first_id)
    SELECT 1, coalesce((SELECT min(received_at) FROM events_g1), extract(epoch FROM clock_timestamp())), 0;
    """,
    # 4: the destination the queued work was accepted for (Store.destination).
    """
    CREATE TABLE destination (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL,
        recorded_at DOUBLE PRECISION NOT NULL
    );
    """,
    # 5: the profile store (audiences and computed traits; see queue/profiles.py).
    profile_tables("BIGSERIAL PRIMARY KEY", "BIGINT", "DOUBLE PRECISION"),
    # 6: the destination of deliveries and dead letters as a column of its own, derived from the delivery
    # key (existing rows included); dead letters are listed by destination through an index.
    f"""
    ALTER TABLE deliveries ADD COLUMN destination TEXT GENERATED ALWAYS AS ({POSTGRES_DESTINATION}) STORED;
    ALTER TABLE dead_letters ADD COLUMN destination TEXT GENERATED ALWAYS AS ({POSTGRES_DESTINATION}) STORED;
    CREATE INDEX dead_letters_destination ON dead_letters (destination, id);
    """,
    # 7: the adaptive rate of each bucket: the share of the configured rate after the last 429 and when.
    """
    ALTER TABLE rate_limits ADD COLUMN factor DOUBLE PRECISION NOT NULL DEFAULT 1;
    ALTER TABLE rate_limits ADD COLUMN factor_at DOUBLE PRECISION NOT NULL DEFAULT 0;
    """,
    # 8: per-user order. A delivery knows its user and its event's time and message id; claims read a
    # user's queue in that order through `deliveries_user`; `parked` marks due work of a blocked user,
    # which `deliveries_parked` finds again when the delivery it waits for is acked or dead-lettered.
    # Work queued before the upgrade is ordered by its receipt time.
    f"""
    ALTER TABLE events ADD COLUMN ordered_at DOUBLE PRECISION;
    ALTER TABLE deliveries ADD COLUMN user_key TEXT,
        ADD COLUMN ordered_at DOUBLE PRECISION NOT NULL DEFAULT 0,
        ADD COLUMN message_id TEXT NOT NULL DEFAULT '',
        ADD COLUMN parked BOOLEAN NOT NULL DEFAULT false;
    UPDATE deliveries d SET ordered_at = d.received_at, user_key = e.user_id, message_id = e.message_id
        FROM events e WHERE e.id = d.event_id;
    {DELIVERY_ORDER_INDEXES.format(parked="parked")};
    """,
]

_LOCK = "SELECT pg_advisory_lock(hashtext('gleap_actions.migrate:' || current_schema()))"
_UNLOCK = "SELECT pg_advisory_unlock(hashtext('gleap_actions.migrate:' || current_schema()))"


def schema_version(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """The schema version of the connection's current schema (0 when empty)."""
    row = conn.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
    if row is None or not row[0]:
        return 0
    version = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if version is None else int(version[0])  # type: ignore[call-overload]


def migrate(conn: psycopg.Connection[tuple[object, ...]]) -> int:
    """Bring the current schema to the latest version; returns that version.

    `conn` must be in autocommit mode and idle. Safe from any number of processes at once: they queue on an
    advisory lock and the later ones find nothing to do. An up-to-date schema is detected without writing,
    so a read-only connection can open an already migrated store.
    """
    with conn.transaction():
        current = schema_version(conn)
    if current < len(MIGRATIONS):
        # A session lock taken before the transaction: catalog changes committed by another node while we
        # waited are only seen by a transaction that starts after the wait.
        conn.execute(_LOCK)
        try:
            with conn.transaction():
                current = _apply(conn, schema_version(conn))
        finally:
            if not conn.closed:
                conn.execute(_UNLOCK)
    if current > len(MIGRATIONS):
        raise RuntimeError(
            f"the store was written by a newer version (schema {current}, this version knows "
            f"{len(MIGRATIONS)})"
        )
    return current


def _apply(conn: psycopg.Connection[tuple[object, ...]], current: int) -> int:
    """Apply the migrations after `current` (none when up to date or newer); returns the version."""
    if current >= len(MIGRATIONS):
        return current
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    for script in MIGRATIONS[current:]:
        conn.execute(script)
    conn.execute("DELETE FROM schema_version")
    conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (len(MIGRATIONS),))
    return len(MIGRATIONS)
