"""PostgreSQL retention by rotation: generations of `events` are partitions, old ones are dropped whole.

The `Store` contract of `purge_delivered` is in `test_store_contract.py`; here is what rotation adds: new
generations open, old partitions disappear from the catalog while their survivors stay usable, several
nodes rotate safely, the upgrade keeps data, and the tables do not grow over fill/purge cycles.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
import pytest

from gleap_actions.queue.postgres.migrations import MIGRATIONS
from gleap_actions.queue.postgres.store import PostgresStore
from gleap_actions.queue.profiles import StoredComputation
from gleap_actions.queue.store import NewEvent

pytestmark = pytest.mark.postgres


def new(n: int, *, user: str | None = None, at: float | None = None, size: int = 0) -> NewEvent:
    payload = b'{"n": %d%s}' % (n, b', "pad": "' + b"x" * size + b'"' if size else b"")
    return NewEvent("s", f"m{n}", user, "track", time.time() if at is None else at, payload)


def partitions(url: str) -> list[str]:
    """The partitions attached to `events`, oldest first."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " WHERE i.inhparent = 'events'::regclass ORDER BY c.relname"
        ).fetchall()
    return sorted((name for (name,) in rows), key=lambda name: int(name.removeprefix("events_g")))


def exists(url: str, relation: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (relation,)).fetchone()
    return bool(row and row[0])


def test_rotation_opens_a_new_generation_for_new_events(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, rotate_after=0)
    assert store.purge_delivered(time.time() - 3600) == 0
    assert partitions(postgres_url) == ["events_g1"]  # an empty generation is not rotated
    store.append([new(1)])
    store.purge_delivered(time.time() - 3600)
    store.append([new(2)])
    assert partitions(postgres_url) == ["events_g1", "events_g2"]
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute("SELECT message_id, tableoid::regclass::text FROM events ORDER BY id").fetchall()
    assert rows == [("m1", "events_g1"), ("m2", "events_g2")]
    store.close()


def test_rotation_by_age_and_by_size(postgres_url: str) -> None:
    by_age = PostgresStore(postgres_url, rotate_after=3600)
    by_age.append([new(i) for i in range(5)])
    by_age.purge_delivered(time.time() - 3600)
    assert partitions(postgres_url) == ["events_g1"]  # young and small: kept open
    by_size = PostgresStore(postgres_url, rotate_after=3600, rotate_rows=5)
    by_size.purge_delivered(time.time() - 3600)
    assert partitions(postgres_url) == ["events_g1", "events_g2"]
    by_age.close()
    by_size.close()


def test_purge_drops_old_partitions_and_keeps_their_survivors_usable(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, rotate_after=0)
    store.append([new(i, user="alice" if i % 2 else "bob") for i in range(100)])
    events = store.claim_unrouted("r", 90, 30)  # 10 stay unrouted
    store.route([(e.id, ()) for e in events[:60]])  # filtered: done
    store.route([(e.id, ("A",)) for e in events[60:]])
    # (A claim hands out each user's deliveries together; the split below is by event.)
    deliveries = sorted(store.claim_deliveries("w", "A", 30, 30, time.time()), key=lambda d: d.event_id)
    store.ack([d.id for d in deliveries[:10]])
    store.dead_letter([d.id for d in deliveries[10:20]], reason="r", status=400, request="{}", response="")
    store.release([d.id for d in deliveries[20:]])  # 10 pending
    with psycopg.connect(postgres_url) as conn:
        oid = conn.execute("SELECT 'events_g1'::regclass::oid").fetchone()
        unrouted_ids = [i for (i,) in conn.execute("SELECT event_id FROM unrouted ORDER BY event_id")]

    assert store.purge_delivered(time.time() + 1) == 70  # the 60 filtered and 10 delivered
    assert partitions(postgres_url) == ["events_g2"]
    assert not exists(postgres_url, "events_g1")
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_class WHERE oid = %s", oid).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM events_g2").fetchone() == (30,)

    # The survivors kept their ids and stay deliverable and replayable.
    unrouted = store.claim_unrouted("r2", 100, 30)
    assert [e.id for e in unrouted] == unrouted_ids
    assert [e.payload for e in unrouted] == [b'{"n": %d}' % i for i in range(90, 100)]
    pending = store.claim_deliveries("w2", "A", 100, 30, time.time() + 1)
    assert sorted(d.event_id for d in pending) == sorted(d.event_id for d in deliveries[20:])
    letters = store.list_dead_letters()
    assert sorted(x.payload for x in letters) == sorted(d.payload for d in deliveries[10:20])
    assert store.replay_dead_letters() == 10
    # Once w2's leases are over (their users' earlier work holds the replayed events back till then).
    again = store.claim_deliveries("w3", "A", 100, 30, time.time() + 60)
    assert {d.event_id for d in deliveries[10:30]} == {d.event_id for d in again}
    # A user's events are found in every generation.
    store.append([new(200, user="alice"), new(201, user="bob")])
    assert store.drop_user("alice") == 16  # the odd ones of the 30 survivors 70..99, and 200
    store.close()


def test_a_generation_the_compute_stage_has_not_read_is_kept(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, rotate_after=0)
    store.append([new(i) for i in range(10)])
    events = store.claim_unrouted("r", 10, 30)
    store.route([(e.id, ()) for e in events])  # all done
    store.profiles.put_computation(
        StoredComputation("k", "K", "audience", "c1", "event('X').count() >= 1", "live", 0)
    )
    store.profiles.open_cursor()
    store.profiles.run(lambda tx: tx.advance(events[4].id))  # a lagging stage: half read
    assert store.purge_delivered(time.time() + 1) == 0
    assert partitions(postgres_url) == ["events_g1", "events_g2"]
    store.profiles.run(lambda tx: tx.advance(events[9].id))
    assert store.purge_delivered(time.time() + 1) == 10
    assert partitions(postgres_url) == ["events_g2"]
    store.close()


def test_limit_bounds_the_survivors_moved_per_call(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, rotate_after=0)
    store.append([new(i) for i in range(50)])
    events = store.claim_unrouted("r", 20, 30)  # 30 unrouted survivors
    store.route([(e.id, ()) for e in events])
    assert store.purge_delivered(time.time() + 1, limit=12) == 0  # 12 moved, the partition stays
    assert store.purge_delivered(time.time() + 1, limit=12) == 0  # 24
    assert partitions(postgres_url) == ["events_g1", "events_g2"]
    assert store.purge_delivered(time.time() + 1, limit=12) == 20  # the last 6, then the drop
    assert partitions(postgres_url) == ["events_g2"]
    assert len(store.claim_unrouted("r", 100, 30)) == 30
    store.close()


def test_a_retirement_interrupted_after_the_detach_resumes(postgres_url: str) -> None:
    store = PostgresStore(postgres_url, rotate_after=0)
    store.append([new(i) for i in range(5)])
    store.route([(e.id, ()) for e in store.claim_unrouted("r", 10, 30)])
    assert store.purge_delivered(time.time() - 3600) == 0  # closes generation 1, too recent to go
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # as a crash after the detach leaves it
        conn.execute("ALTER TABLE events DETACH PARTITION events_g1")
    assert store.purge_delivered(time.time() + 1) == 5
    assert not exists(postgres_url, "events_g1")
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT id FROM generations").fetchall() == [(2,)]
    store.close()


def test_a_busy_table_delays_the_drop_without_failing(postgres_url: str) -> None:
    """A long transaction reading `events` keeps the partition (the detach gives up after its lock
    timeout instead of queueing every query behind it); the next call drops it."""
    store = PostgresStore(postgres_url, rotate_after=0)
    store.append([new(i) for i in range(3)])
    store.route([(e.id, ()) for e in store.claim_unrouted("r", 10, 30)])
    assert store.purge_delivered(time.time() - 3600) == 0  # closes generation 1
    with psycopg.connect(postgres_url) as reader:
        reader.execute("SELECT count(*) FROM events").fetchone()  # holds its lock until the rollback
        started = time.monotonic()
        assert store.purge_delivered(time.time() + 1) == 0
        assert time.monotonic() - started < 5
        assert partitions(postgres_url) == ["events_g1", "events_g2"]
        store.append([new(10)])  # ingest is not blocked
        reader.rollback()
    assert store.purge_delivered(time.time() + 1) == 3  # (generation 2 too: its event moves to 3)
    assert partitions(postgres_url) == ["events_g3"]
    assert len(store.claim_unrouted("r", 10, 30)) == 1
    store.close()


def test_concurrent_rotation_and_ingest_from_several_nodes(
    postgres_url: str, run_in_threads: Callable[..., None]
) -> None:
    """Two nodes rotate and retire in a loop while two others append: every append succeeds, every
    event is stored once, and generations are opened one at a time."""
    purgers = [PostgresStore(postgres_url, rotate_after=0) for _ in range(2)]
    writers = [PostgresStore(postgres_url) for _ in range(2)]
    stop = threading.Event()
    removed = [0, 0]

    def purge(n: int) -> None:
        while not stop.is_set():
            removed[n] += purgers[n].purge_delivered(time.time() + 1)

    def write(n: int) -> None:
        for batch in range(20):
            first = n * 10_000 + batch * 20
            assert writers[n].append([new(first + i) for i in range(20)]) == [True] * 20

    def write_on_both_then_stop() -> None:
        try:
            run_in_threads(functools.partial(write, 0), functools.partial(write, 1))
        finally:
            stop.set()

    run_in_threads(functools.partial(purge, 0), functools.partial(purge, 1), write_on_both_then_stop)
    assert sum(removed) == 0  # nothing was routed: every event survives every rotation
    claimed = purgers[0].claim_unrouted("r", 10_000, 30)
    assert len(claimed) == len({e.id for e in claimed}) == 800
    with psycopg.connect(postgres_url) as conn:
        ids = [i for (i,) in conn.execute("SELECT id FROM generations ORDER BY id").fetchall()]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # no generation opened twice or skipped
    assert [f"events_g{i}" for i in ids] == partitions(postgres_url)
    for store in purgers + writers:
        store.close()


def test_two_nodes_rotating_at_once_open_one_generation(
    postgres_url: str, run_in_threads: Callable[..., None]
) -> None:
    stores = [PostgresStore(postgres_url, rotate_after=0) for _ in range(4)]
    stores[0].append([new(1)])
    start = threading.Barrier(len(stores))

    def purge(store: PostgresStore) -> None:
        start.wait()
        store.purge_delivered(time.time() - 3600)

    run_in_threads(*(functools.partial(purge, store) for store in stores), timeout=30)
    assert partitions(postgres_url) == ["events_g1", "events_g2"]
    for store in stores:
        store.close()


@contextmanager
def version_2_schema(postgres_url: str) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """The schema as version 2 of the store left it (before partitioning), with a connection to it."""
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        for script in MIGRATIONS[:2]:
            conn.execute(script)
        conn.execute("INSERT INTO schema_version VALUES (2)")
        yield conn


def test_upgrade_from_version_2_keeps_every_event_and_its_state(postgres_url: str) -> None:
    with version_2_schema(postgres_url) as conn:
        conn.execute(
            "INSERT INTO events (source, message_id, user_id, type, received_at, payload)"
            " SELECT 's', 'm' || g, CASE WHEN g % 2 = 0 THEN 'alice' END, 'track', g,"
            " ('{\"n\": ' || g || '}')::bytea"
            " FROM generate_series(1, 6) g"
        )
        conn.execute("DELETE FROM events WHERE id = 6")  # the newest id was used: it must not come back
        conn.execute("INSERT INTO unrouted (event_id) VALUES (1)")
        conn.execute("INSERT INTO deliveries (event_id, mapping, received_at, next_at) VALUES (2, 'A', 2, 2)")
        conn.execute(
            "INSERT INTO dead_letters (event_id, mapping, reason, status, request, response, created_at,"
            " attempts) VALUES (3, 'A', 'bad', 400, '{}', '', 3, 1)"
        )
    store = PostgresStore(postgres_url, rotate_after=0)
    assert partitions(postgres_url) == ["events_g1"]
    assert [e.payload for e in store.claim_unrouted("r", 10, 30)] == [b'{"n": 1}']
    assert [(d.event_id, d.payload) for d in store.claim_deliveries("w", "A", 10, 30, 100)] == [
        (2, b'{"n": 2}')
    ]
    assert [x.payload for x in store.list_dead_letters()] == [b'{"n": 3}']
    store.append([new(7)])
    [seventh] = store.claim_unrouted("r", 10, 30)
    assert seventh.id == 7  # the sequence continues where the old identity stopped
    # The old rows are generation 1, rotated and retired by the first retention pass: the done events
    # (1 and 7 now routed, 4 and 5 routed before) go, the pending 2 and the dead-lettered 3 stay.
    store.route([(1, ()), (seventh.id, ())])
    assert store.purge_delivered(time.time() + 1) == 4
    assert partitions(postgres_url) == ["events_g2"]
    assert [x.payload for x in store.list_dead_letters()] == [b'{"n": 3}']
    assert store.drop_user("alice") == 1  # event 2 (4 was purged; 6 was deleted)
    store.close()


def test_tables_do_not_grow_over_fill_and_purge_cycles(postgres_url: str) -> None:
    """Each cycle fills a generation with delivered events and purges it: the old partition is dropped,
    so the table's total size after each fill stays that of one generation (no bloat, no vacuum)."""
    store = PostgresStore(postgres_url, rotate_after=0)

    def total_size() -> int:
        with psycopg.connect(postgres_url) as conn:
            row = conn.execute(
                "SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits"
                " WHERE inhparent = 'events'::regclass"
            ).fetchone()
        assert row is not None
        return int(row[0])

    sizes = []
    for cycle in range(4):
        store.append([new(cycle * 2000 + i, size=200) for i in range(2000)], dedup_window=1)
        store.route([(e.id, ()) for e in store.claim_unrouted("r", 5000, 30)])
        sizes.append(total_size())
        assert store.purge_delivered(time.time() + 1) == 2000
        assert len(partitions(postgres_url)) == 1
    assert max(sizes) <= sizes[0] * 1.05, sizes
    store.close()


def test_every_lookup_of_events_by_id_uses_an_index(postgres_url: str) -> None:
    """With sequential scans disabled, no statement of the store plans one on an events partition: every
    join or lookup by id has an index (the primary key starts with id). Plans are taken with EXPLAIN of
    each statement the store runs, over a whole lifecycle across two generations."""
    url = postgres_url + quote(" -cenable_seqscan=off", safe="")
    store = PostgresStore(url, rotate_after=0)
    store.append([new(1, user="u"), new(2)])
    store.purge_delivered(time.time() - 3600)  # events of generation 1 and 2 from now on
    plans: list[str] = []
    real_connection = store._pool.connection

    @contextmanager
    def explaining() -> Iterator[Any]:
        with real_connection() as conn:
            yield Explaining(conn, plans)

    store._pool.connection = explaining  # type: ignore[method-assign]
    store.append([new(3, user="u")])
    events = store.claim_unrouted("r", 10, 30)
    store.route([(e.id, ("A",)) for e in events])
    # (A claim hands out each user's deliveries together; what follows is by event.)
    deliveries = sorted(store.claim_deliveries("w", "A", 10, 30, time.time()), key=lambda d: d.event_id)
    store.ack([deliveries[0].id])
    store.dead_letter([deliveries[1].id], reason="r", status=400, request="{}", response="")
    store.retry([deliveries[2].id], at=0, error="e", now=time.time())
    [letter] = store.list_dead_letters()
    assert store.get_dead_letter(letter.id) is not None
    assert store.replay_dead_letters() == 1
    store.stats(time.time())
    # Retires generations 1 and 2 (event 1 was delivered; 2 and 3 have deliveries and move).
    assert store.purge_delivered(time.time() + 1) == 1
    assert store.drop_user("u") == 1
    store._pool.connection = real_connection  # type: ignore[method-assign]
    assert partitions(url) == ["events_g3"]
    assert len(plans) >= 12
    scanned = [plan for plan in plans if '"Seq Scan"' in plan and '"events_g' in plan]
    assert not [p for p in scanned if seq_scans_of_events(p)], scanned
    store.close()


def seq_scans_of_events(plan: str) -> list[str]:
    """Relations of `events` partitions read by a sequential scan in a JSON plan."""
    found: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Node Type") == "Seq Scan" and str(node.get("Relation Name", "")).startswith("events_g"):
            found.append(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(json.loads(plan)[0]["Plan"])
    return found


class Explaining:
    """A connection that EXPLAINs each data statement that touches `events` before running it."""

    def __init__(self, conn: psycopg.Connection[tuple[Any, ...]], plans: list[str]) -> None:
        self._conn = conn
        self._plans = plans

    def execute(self, query: Any, params: Any = None) -> Any:
        text = query if isinstance(query, str) else ""
        if "events" in text and text.lstrip().upper().startswith(("SELECT", "WITH", "UPDATE", "DELETE")):
            row = self._conn.execute("EXPLAIN (FORMAT JSON) " + text, params).fetchone()  # type: ignore[operator]
            assert row is not None
            self._plans.append(json.dumps(row[0]))
        return self._conn.execute(query, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
