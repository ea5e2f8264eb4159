"""What is specific to the PostgreSQL store: migrations, several nodes at once, leases of dead nodes, errors.

The behaviour every store shares is in `test_store_contract.py` (run against PostgreSQL too).
"""

from __future__ import annotations

import functools
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable

import psycopg
import pytest

from gleap_actions.queue.postgres.migrations import MIGRATIONS
from gleap_actions.queue.postgres.store import PostgresStore, describe
from gleap_actions.queue.store import NewEvent, StoreFullError

pytestmark = pytest.mark.postgres


def new(message_id: str, *, source: str = "s", user: str | None = None) -> NewEvent:
    return NewEvent(source, message_id, user, "track", time.time(), b'{"id": "%s"}' % message_id.encode())


def test_migrations_are_versioned_and_idempotent(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    store.append([new("m1")])
    store.close()
    store = PostgresStore(postgres_url)  # already migrated: nothing is recreated
    assert len(store.claim_unrouted("r", 10, 30)) == 1
    store.close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(len(MIGRATIONS),)]


def test_existing_deliveries_and_dead_letters_get_their_destination(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    store.append([new("m1")])
    [stored] = store.claim_unrouted("r", 10, 30)
    store.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # back to what version 5 left
        conn.execute("UPDATE schema_version SET version = 5")
        conn.execute("ALTER TABLE deliveries DROP COLUMN destination")
        conn.execute("ALTER TABLE dead_letters DROP COLUMN destination")
        conn.execute("ALTER TABLE rate_limits DROP COLUMN factor, DROP COLUMN factor_at")  # version 7's
        conn.execute("ALTER TABLE events DROP COLUMN ordered_at")  # version 8's
        conn.execute(
            "ALTER TABLE deliveries DROP COLUMN user_key, DROP COLUMN ordered_at, DROP COLUMN message_id,"
            " DROP COLUMN parked"
        )
        for key in ("Track", "eu/Track", "a b/c"):
            conn.execute(
                "INSERT INTO deliveries (event_id, mapping, received_at, next_at) VALUES (%s, %s, 1, 1)",
                (stored.id, key),
            )
            conn.execute(
                "INSERT INTO dead_letters (event_id, mapping, reason, status, request, response, created_at,"
                " attempts) VALUES (%s, %s, 'rejected', 400, '{}', '', 1, 1)",
                (stored.id, key),
            )
    store = PostgresStore(postgres_url)
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


def test_an_older_schema_is_upgraded_in_place(postgres_url: str) -> None:
    with psycopg.connect(postgres_url, autocommit=True) as conn:  # as a node of version 1 left it
        conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
        conn.execute(MIGRATIONS[0])
        conn.execute("INSERT INTO schema_version VALUES (1)")
        conn.execute(
            "INSERT INTO events (source, message_id, type, received_at, payload)"
            " VALUES ('s', 'm1', 'track', 1, '{}')"
        )
        conn.execute("INSERT INTO unrouted (event_id) VALUES (1)")
    store = PostgresStore(postgres_url)
    assert len(store.claim_unrouted("r", 10, 30)) == 1
    store.close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (len(MIGRATIONS),)
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes"
            " WHERE schemaname = current_schema() AND indexname = 'deliveries_due'"
        ).fetchone()
        assert index is not None and index[0].endswith("(mapping, next_at, id)")


def test_a_newer_schema_is_refused(postgres_url: str) -> None:
    PostgresStore(postgres_url).close()
    with psycopg.connect(postgres_url) as conn:
        conn.execute("UPDATE schema_version SET version = %s", (len(MIGRATIONS) + 1,))
    with pytest.raises(RuntimeError, match="newer version"):
        PostgresStore(postgres_url)


def test_nodes_starting_together_migrate_once(postgres_url: str, run_in_threads: Callable[..., None]) -> None:
    start = threading.Barrier(6)
    opened: list[PostgresStore] = []

    def open_one() -> None:
        start.wait()
        opened.append(PostgresStore(postgres_url, pool_size=1))

    run_in_threads(*[open_one] * 6, timeout=30)
    assert len(opened) == 6
    assert opened[0].append([new("m1")]) == [True]
    assert opened[-1].append([new("m1")]) == [False]
    for store in opened:
        store.close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM schema_version").fetchone() == (1,)


def test_dedup_holds_across_nodes_appending_at_once(
    postgres_url: str, run_in_threads: Callable[..., None]
) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(3)]
    ids = [f"m{i}" for i in range(300)]
    results: list[list[bool]] = [[] for _ in stores]
    start = threading.Barrier(len(stores))

    def append(n: int) -> None:
        start.wait()
        mine = ids if n % 2 == 0 else ids[::-1]  # the same ids, in batches of different orders
        for chunk in range(0, len(mine), 50):
            results[n].extend(stores[n].append([new(m) for m in mine[chunk : chunk + 50]]))

    run_in_threads(*(functools.partial(append, n) for n in range(len(stores))))
    assert [len(accepted) for accepted in results] == [len(ids)] * len(stores)
    assert sum(sum(accepted) for accepted in results) == len(ids)
    assert sorted(e.payload for e in stores[0].claim_unrouted("r", 1000, 30)) == sorted(
        b'{"id": "%s"}' % m.encode() for m in ids
    )
    for store in stores:
        store.close()


def test_threads_of_several_nodes_never_claim_the_same_work(
    postgres_url: str, run_in_threads: Callable[..., None]
) -> None:
    stores = [PostgresStore(postgres_url) for _ in range(3)]
    stores[0].append([new(f"m{i}") for i in range(600)])
    routed: list[int] = []
    delivered: list[int] = []
    lock = threading.Lock()

    def work(name: str, store: PostgresStore) -> None:
        idle = 0
        while idle < 5:
            events = store.claim_unrouted(name, 25, 60)
            store.route([(e.id, ["A", "B"]) for e in events])
            deliveries = store.claim_deliveries(name, "A", 20, 60, time.time())
            deliveries += store.claim_deliveries(name, "B", 20, 60, time.time())
            store.ack([d.id for d in deliveries])
            with lock:
                routed.extend(e.id for e in events)
                delivered.extend(d.id for d in deliveries)
            idle = 0 if events or deliveries else idle + 1

    run_in_threads(
        *(functools.partial(work, f"n{n}t{t}", store) for n, store in enumerate(stores) for t in range(2))
    )
    assert len(routed) == len(set(routed)) == 600
    assert len(delivered) == len(set(delivered)) == 1200
    for store in stores:
        store.close()


WRITER = textwrap.dedent(
    """
    import sys, time
    from gleap_actions.queue.postgres.store import PostgresStore
    from gleap_actions.queue.store import NewEvent
    store = PostgresStore(sys.argv[1])
    first = int(sys.argv[2])
    for batch in range(20):
        ids = range(first + batch * 50, first + batch * 50 + 50)
        store.append([NewEvent("s", f"m{i}", None, "track", time.time(), b"{}") for i in ids])
    """
)

WORKER = textwrap.dedent(
    """
    import sys, time
    from gleap_actions.queue.postgres.store import PostgresStore
    store = PostgresStore(sys.argv[1])
    name, lease, sending, idle = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), 0
    while idle < 30:
        events = store.claim_unrouted(name, 40, lease)
        store.route([(e.id, ["A"]) for e in events])
        deliveries = store.claim_deliveries(name, "A", 40, lease, time.time())
        if deliveries:
            print("claimed", *[d.event_id for d in deliveries], flush=True)
            time.sleep(sending)
            store.ack([d.id for d in deliveries])
            print("acked", *[d.event_id for d in deliveries], flush=True)
        idle = 0 if events or deliveries else idle + 1
        time.sleep(0 if events or deliveries else 0.1)
    """
)


def test_processes_under_load_with_one_killed_deliver_everything_once(postgres_url: str) -> None:
    """2 writers (sharing half their message ids) and 3 workers; one worker is killed mid-run. Its
    leased work is reclaimed when the lease expires; no live worker ever holds work another one holds."""
    PostgresStore(postgres_url).close()  # migrate once up front so the processes start quickly
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, postgres_url, str(first)]) for first in (0, 500)
    ]

    # The victim is killed while "sending" its first claim, with the other workers running; that work
    # comes back after its 1 s lease. The others' leases are long enough never to expire on a loaded
    # machine, so any work claimed twice by them would be a store bug.
    def worker(name: str, lease: str, sending: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-c", WORKER, postgres_url, name, lease, sending]
        return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    victim = worker("victim", "1", "5")
    assert victim.stdout is not None
    victim_lines = [victim.stdout.readline()]  # it has claimed and is sending
    workers = [worker(f"w{n}", "30", "0.01") for n in range(2)]
    time.sleep(0.5)
    victim.kill()
    victim_lines += victim.stdout.readlines()
    victim.wait()
    for writer in writers:
        assert writer.wait(60) == 0
    outputs = [process.communicate(timeout=60)[0].splitlines() for process in workers]
    claims: dict[str, list[int]] = {"victim": [], "live": []}
    victim_acked: list[int] = []
    for who, lines in [("victim", victim_lines), ("live", outputs[0]), ("live", outputs[1])]:
        for line in lines:
            kind, *ids = line.split()
            if kind == "claimed":
                claims[who].extend(map(int, ids))
            elif kind == "acked" and who == "victim":
                victim_acked.extend(map(int, ids))
    # 1500 distinct message ids (the writers overlap on 500..999), each stored and claimed once by the
    # live workers, except what the killed one claimed: its acknowledged work is never claimed again, its
    # unacknowledged work is (once its lease expired).
    assert len(set(claims["live"]) | set(claims["victim"])) == 1500
    assert len(claims["live"]) == len(set(claims["live"]))
    assert not set(claims["live"]) & set(victim_acked)
    assert claims["victim"] and set(claims["victim"]) <= set(claims["live"])  # all taken over
    store = PostgresStore(postgres_url)
    stats = store.stats(time.time())
    assert (stats.unrouted, stats.pending, stats.in_flight) == (0, 0, 0)
    store.close()


def test_work_of_a_dead_process_is_reclaimed_after_its_lease(postgres_url: str) -> None:
    store = PostgresStore(postgres_url)
    store.append([new("m1"), new("m2")])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom gleap_actions.queue.postgres.store import PostgresStore\n"
            "s = PostgresStore(sys.argv[1])\nprint(len(s.claim_unrouted('dead', 10, 1.0)), flush=True)\n"
            "sys.stdin.read()",
            postgres_url,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "2"
    holder.kill()
    holder.wait()
    assert store.claim_unrouted("alive", 10, 30) == []
    time.sleep(1.1)
    assert len(store.claim_unrouted("alive", 10, 30)) == 2
    store.close()


def test_a_stale_id_never_names_a_newer_event(postgres_url: str) -> None:
    """A router holding an event that was deleted meanwhile (drop_user) routes nothing with its stale id,
    even after newer events arrived: ids are never reused."""
    store = PostgresStore(postgres_url)
    store.append([new("m1", user="alice")])
    [stale] = store.claim_unrouted("router", 10, 30)
    assert store.drop_user("alice") == 1
    store.append([new("m2")])
    store.route([(stale.id, ["A"])])
    assert store.due_mappings(time.time() + 100) == {}
    assert [e.payload for e in store.claim_unrouted("router", 10, 30)] == [b'{"id": "m2"}']
    store.close()


def test_read_only_server_is_store_full(postgres_url: str) -> None:
    PostgresStore(postgres_url).close()
    read_only = postgres_url + "%20-cdefault_transaction_read_only%3Don"
    store = PostgresStore(read_only)  # an up-to-date schema opens without writing
    with pytest.raises(StoreFullError, match="read-only"):
        store.append([new("m1")])
    assert store.stats(time.time()).unrouted == 0  # reads still work
    store.close()


def test_lost_connection_while_writing_is_store_full_then_recovers(postgres_url: str) -> None:
    name = f"victim-{uuid.uuid4().hex}"
    store = PostgresStore(postgres_url + f"&application_name={name}", pool_size=1)
    store.append([new("m1")])
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = %s",
            (name,),
        ).fetchone()
        assert killed == (1,)
    with pytest.raises(StoreFullError):
        store.append([new("m2")])
    assert store.append([new("m2")]) == [True]  # a fresh connection next time
    store.close()


def test_unreachable_server_is_store_full() -> None:
    with pytest.raises(
        StoreFullError, match=r"cannot open the store at postgresql://127\.0\.0\.1:9/x"
    ) as raised:
        PostgresStore("postgresql://user:hunter2@127.0.0.1:9/x", connect_timeout=1)
    assert "hunter2" not in str(raised.value)


def test_describe_hides_credentials() -> None:
    assert describe("postgresql://user:hunter2@db.example:6543/queue?sslmode=require") == (
        "postgresql://db.example:6543/queue"
    )
