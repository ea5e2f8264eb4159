"""The SQLite store's schema, as an ordered list of migrations.

Version N of the schema is the result of applying `MIGRATIONS[:N]`. Append new migrations to the list (never
edit a released one); `migrate` applies the missing ones in one transaction and records the version.

Tables:
- `events`: accepted events. `routed` 0 = waiting for the router (claimable when its lease is free).
- `deliveries`: pending (event, mapping) work; `mapping` is the delivery key (`route.delivery_key`),
  `destination` the destination part of it (a generated column). Delivered work is deleted. `next_at` is
  when it can be claimed: the event's receipt time when new (so claims go oldest event first), the retry
  time after a failure, the lease expiry while claimed, and, while `parked`, when the user's delivery it
  waits for may change. `user_key`, `ordered_at`, `message_id`: the user and the event order of per-user
  delivery order.
- `dead_letters`: deliveries that failed for good (with `mapping` and `destination` as in `deliveries`); the
  event row is kept for replay.
- `dedup`: (source, message_id) seen recently, kept `dedup_window` seconds (rowid order = insertion order,
  so expired entries are deleted from the front).
- `destination`: one row, where the queued work is meant to go (base URL and token fingerprint).
- `profiles`, `profile_ids`, `profile_events`, `profile_values`, `computations`, `profile_cursor`: the
  profile store of audiences and computed traits (see `queue/profiles.py`).
"""

from __future__ import annotations

import sqlite3

from gleap_actions.queue.base import DEAD_LETTER_INDEXES, DELIVERY_ORDER_INDEXES, SQLITE_DESTINATION
from gleap_actions.queue.profiles import profile_tables

MIGRATIONS: list[str] = [
    # 1: the initial schema.
    f"""
    CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        source TEXT NOT NULL,
        message_id TEXT NOT NULL,
        user_id TEXT,
        type TEXT NOT NULL,
        received_at REAL NOT NULL,
        payload BLOB NOT NULL,
        routed INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        lease_until REAL
    );
    CREATE INDEX events_unrouted ON events (id) WHERE routed = 0;
    CREATE INDEX events_user ON events (user_id) WHERE user_id IS NOT NULL;

    CREATE TABLE deliveries (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL,
        mapping TEXT NOT NULL,
        received_at REAL NOT NULL,
        next_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        first_attempt_at REAL,
        last_error TEXT,
        owner TEXT,
        lease_until REAL
    );
    CREATE INDEX deliveries_due ON deliveries (mapping, next_at);
    CREATE INDEX deliveries_event ON deliveries (event_id);

    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        event_id INTEGER NOT NULL,
        mapping TEXT NOT NULL,
        reason TEXT NOT NULL,
        status INTEGER,
        request TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL
    );
    {DEAD_LETTER_INDEXES}

    CREATE TABLE dedup (
        source TEXT NOT NULL,
        message_id TEXT NOT NULL,
        seen_at REAL NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE UNIQUE INDEX dedup_key ON dedup (source, message_id);
    """,
    # 2: ids are never reused. Without AUTOINCREMENT SQLite hands out the highest deleted id again, so a
    # worker whose lease expired could ack (delete) a newer delivery that took its old id, losing it.
    f"""
    CREATE TABLE events_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        source TEXT NOT NULL,
        message_id TEXT NOT NULL,
        user_id TEXT,
        type TEXT NOT NULL,
        received_at REAL NOT NULL,
        payload BLOB NOT NULL,
        routed INTEGER NOT NULL DEFAULT 0,
        owner TEXT,
        lease_until REAL
    );
    INSERT INTO events_v2 SELECT * FROM events;
    DROP TABLE events;
    ALTER TABLE events_v2 RENAME TO events;
    CREATE INDEX events_unrouted ON events (id) WHERE routed = 0;
    CREATE INDEX events_user ON events (user_id) WHERE user_id IS NOT NULL;

    CREATE TABLE deliveries_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id INTEGER NOT NULL,
        mapping TEXT NOT NULL,
        received_at REAL NOT NULL,
        next_at REAL NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        first_attempt_at REAL,
        last_error TEXT,
        owner TEXT,
        lease_until REAL
    );
    INSERT INTO deliveries_v2 SELECT * FROM deliveries;
    DROP TABLE deliveries;
    ALTER TABLE deliveries_v2 RENAME TO deliveries;
    CREATE INDEX deliveries_due ON deliveries (mapping, next_at);
    CREATE INDEX deliveries_event ON deliveries (event_id);

    CREATE TABLE dead_letters_v2 (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        event_id INTEGER NOT NULL,
        mapping TEXT NOT NULL,
        reason TEXT NOT NULL,
        status INTEGER,
        request TEXT NOT NULL,
        response TEXT NOT NULL,
        created_at REAL NOT NULL,
        attempts INTEGER NOT NULL
    );
    INSERT INTO dead_letters_v2 SELECT * FROM dead_letters;
    DROP TABLE dead_letters;
    ALTER TABLE dead_letters_v2 RENAME TO dead_letters;
    {DEAD_LETTER_INDEXES}
    """,
    # 3: the destination the queued work was accepted for (Store.destination).
    """
    CREATE TABLE destination (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        name TEXT NOT NULL,
        recorded_at REAL NOT NULL
    );
    """,
    # 4: the profile store (audiences and computed traits).
    profile_tables("INTEGER PRIMARY KEY AUTOINCREMENT", "INTEGER", "REAL"),
    # 5: the destination of deliveries and dead letters as a column of its own, derived from the delivery
    # key (existing rows included); dead letters are listed by destination through an index.
    f"""
    ALTER TABLE deliveries ADD COLUMN destination TEXT GENERATED ALWAYS AS ({SQLITE_DESTINATION}) VIRTUAL;
    ALTER TABLE dead_letters ADD COLUMN destination TEXT GENERATED ALWAYS AS ({SQLITE_DESTINATION}) VIRTUAL;
    CREATE INDEX dead_letters_destination ON dead_letters (destination, id);
    """,
    # 6: per-user order. A delivery knows its user and its event's time and message id; claims read a
    # user's queue in that order through `deliveries_user`; `parked` marks due work of a blocked user,
    # which `deliveries_parked` finds again when the delivery it waits for is acked or dead-lettered.
    # Work queued before the upgrade is ordered by its receipt time.
    f"""
    ALTER TABLE events ADD COLUMN ordered_at REAL;
    ALTER TABLE deliveries ADD COLUMN user_key TEXT;
    ALTER TABLE deliveries ADD COLUMN ordered_at REAL NOT NULL DEFAULT 0;
    ALTER TABLE deliveries ADD COLUMN message_id TEXT NOT NULL DEFAULT '';
    ALTER TABLE deliveries ADD COLUMN parked INTEGER NOT NULL DEFAULT 0;
    UPDATE deliveries SET ordered_at = received_at,
        user_key = (SELECT e.user_id FROM events e WHERE e.id = deliveries.event_id),
        message_id = coalesce((SELECT e.message_id FROM events e WHERE e.id = deliveries.event_id), '');
    {DELIVERY_ORDER_INDEXES.format(parked="parked = 1")}
    """,
]


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the database to the latest schema version; returns that version.

    `conn` must be in autocommit mode (isolation_level=None). Safe to run from several processes at once:
    the check and the migrations happen under one write lock.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM schema_version").fetchone()
        current = 0 if row is None else int(row[0])
        if current > len(MIGRATIONS):
            raise RuntimeError(
                f"the store was written by a newer version (schema {current}, this version knows "
                f"{len(MIGRATIONS)})"
            )
        for script in MIGRATIONS[current:]:
            for statement in script.split(";"):
                if statement.strip():
                    conn.execute(statement)
        if row is None:
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (len(MIGRATIONS),))
        else:
            conn.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS),))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return len(MIGRATIONS)
