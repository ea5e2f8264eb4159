"""What is specific to the SQLite store: schema versions, indexes, WAL, threads."""

from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import pytest

from gleap_actions.queue.sqlite.schema import MIGRATIONS
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, StoreFullError


def test_schema_is_versioned_and_reopening_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    store = SQLiteStore(path)
    store.append([NewEvent("s", "m1", None, "track", time.time(), b"{}")])
    store.close()
    store = SQLiteStore(path)  # migrations already applied: nothing is recreated
    assert len(store.claim_unrouted("r", 10, 30)) == 1
    store.close()
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS) + 1,))
    with pytest.raises(RuntimeError, match="newer version"):
        SQLiteStore(path)


@pytest.mark.parametrize(
    ("query", "index"),
    [
        ("SELECT id FROM events WHERE routed = 0 AND (lease_until IS NULL OR lease_until <= 1) ORDER BY id",
         "events_unrouted"),
        ("SELECT id FROM deliveries WHERE mapping = 'a' AND next_at <= 5 ORDER BY next_at LIMIT 10",
         "deliveries_due"),
        ("SELECT id FROM events WHERE user_id = 'x'", "events_user"),
        ("SELECT id FROM deliveries WHERE mapping = 'a' AND user_key = 'u' ORDER BY ordered_at, message_id"
         " LIMIT 10", "deliveries_user"),
        ("SELECT id FROM deliveries WHERE parked = 1 AND mapping = 'a' AND user_key = 'u'",
         "deliveries_parked"),
        ("SELECT seen_at FROM dedup WHERE source = 's' AND message_id = 'm'", "dedup_key"),
        ("SELECT id FROM dead_letters WHERE destination = 'eu' AND id > 5 ORDER BY id LIMIT 50",
         "dead_letters_destination"),
    ],
)  # fmt: skip
def test_claim_and_lookup_queries_use_indexes(tmp_path: Path, query: str, index: str) -> None:
    SQLiteStore(tmp_path / "q.db").close()
    with sqlite3.connect(tmp_path / "q.db") as db:
        plan = " ".join(row[3] for row in db.execute("EXPLAIN QUERY PLAN " + query))
    assert index in plan


def test_existing_deliveries_and_dead_letters_get_their_destination(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:  # as version 4 left it
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for script in MIGRATIONS[:4]:
            for statement in script.split(";"):
                if statement.strip():
                    db.execute(statement)
        db.execute("INSERT INTO schema_version VALUES (4)")
        db.execute(
            "INSERT INTO events (source, message_id, type, received_at, payload, routed)"
            " VALUES ('s', 'm1', 'track', 1, CAST('{}' AS BLOB), 1)"
        )
        for key in ("Track", "eu/Track", "a b/c"):
            db.execute(
                "INSERT INTO deliveries (event_id, mapping, received_at, next_at) VALUES (1, ?, 1, 1)", (key,)
            )
            db.execute(
                "INSERT INTO dead_letters (event_id, mapping, reason, status, request, response, created_at,"
                " attempts) VALUES (1, ?, 'rejected', 400, '{}', '', 1, 1)",
                (key,),
            )
    store = SQLiteStore(path)
    try:
        letters = store.list_dead_letters()
        assert [(x.destination, x.mapping) for x in letters] == [
            ("default", "Track"),
            ("eu", "eu/Track"),
            ("default", "a b/c"),
        ]
        assert {name: q.pending for name, q in store.stats(2).per_destination.items()} == {
            "default": 2,
            "eu": 1,
        }
    finally:
        store.close()


def test_unwritable_location_is_store_full(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    with pytest.raises(StoreFullError):
        SQLiteStore(blocker / "q.db")


def test_threads_never_claim_the_same_event_twice(
    tmp_path: Path, run_in_threads: Callable[..., None]
) -> None:
    store = SQLiteStore(tmp_path / "q.db")
    claimed: list[int] = []
    lock = threading.Lock()

    def producer(n: int) -> None:
        for batch in range(20):
            store.append(
                [NewEvent("s", f"{n}-{batch}-{i}", None, "track", time.time(), b"{}") for i in range(25)]
            )

    def consumer(name: str) -> None:
        idle = 0
        while idle < 20:
            got = store.claim_unrouted(name, 30, 60)
            if got:
                store.route([(e.id, ()) for e in got])
                with lock:
                    claimed.extend(e.id for e in got)
                idle = 0
            else:
                idle += 1
                time.sleep(0.005)

    run_in_threads(
        *(functools.partial(producer, n) for n in range(3)),
        *(functools.partial(consumer, f"c{n}") for n in range(3)),
    )
    store.close()
    assert len(claimed) == len(set(claimed)) == 3 * 20 * 25


def test_a_version_1_file_is_migrated_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    with closing(sqlite3.connect(path, isolation_level=None)) as db:
        db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        db.execute("INSERT INTO schema_version VALUES (1)")
        for statement in MIGRATIONS[0].split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute(
            "INSERT INTO events (id, source, message_id, user_id, type, received_at, payload) "
            "VALUES (7, 's', 'm', 'u', 'track', 1.0, x'7b7d')"
        )
    store = SQLiteStore(path)
    try:
        [claimed] = store.claim_unrouted("r", 10, 30)
        assert (claimed.id, claimed.payload) == (7, b"{}")
    finally:
        store.close()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]
        tables = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall())
    for table in ("events", "deliveries", "dead_letters"):
        assert "AUTOINCREMENT" in tables[table]
