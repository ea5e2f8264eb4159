"""Differential test: on any sequence of operations, the PostgreSQL store answers exactly as SQLite does.

Seeded random sequences of appends (with duplicate ids, several sources and users), claims, routes,
acks, retries, releases, dead letters, replays, user deletions and retention; both stores run each one and
every answer, and what the read-only methods say after each step, is compared (events and deliveries by
payload and mapping, since ids are each store's own).
"""

from __future__ import annotations

import random
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from gleap_actions.queue.postgres.store import PostgresStore
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import DeadLetterFilter, NewEvent, Store

pytestmark = pytest.mark.postgres

T0 = time.time() - 100_000  # event times: long ago, so dedup entries of short windows are expired

MAPPINGS = [("A",), ("A", "B"), ("B", "A", "A"), ()]


def random_op(rng: random.Random) -> tuple[Any, ...]:
    """One operation; the lifecycle steps come up far more often than the administrative ones."""
    picks = [rng.randrange(20) for _ in range(rng.randint(1, 4))]
    kind = rng.choices(
        ["append", "claim_unrouted", "route", "claim", "outcome", "admin"], weights=[3, 3, 3, 4, 4, 1]
    )[0]
    if kind == "append":
        rows = [
            (
                rng.choice("123456"),
                rng.choice(["s1", "s2"]),
                rng.choice(["u1", "u2", None]),
                rng.randint(0, 50),
            )
            for _ in range(rng.randint(0, 5))
        ]
        return ("append", rows, rng.choice([5.0, 1e9]))
    if kind == "claim_unrouted":
        return ("claim_unrouted", rng.randint(1, 4))
    if kind == "route":
        return ("route", picks, rng.choice(MAPPINGS))
    if kind == "claim":
        return ("claim", rng.choice("AB"), rng.randint(1, 4), rng.randint(0, 200))
    if kind == "outcome":
        return (rng.choice(["ack", "retry", "release", "dead_letter"]), picks, rng.randint(0, 200))
    return rng.choice(
        [
            ("replay", rng.choice(["A", "B", None])),
            ("purge_dead", rng.choice(["A", "B", None])),
            ("drop_user", rng.choice(["u1", "u2"])),
            ("purge", rng.randint(0, 60), rng.randint(1, 5)),
        ]
    )


class Driver:
    """Runs operations on one store, naming events by payload and deliveries by (payload, mapping)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.appended = 0
        self.unrouted: dict[bytes, int] = {}  # claimed for routing, not routed yet: payload -> event id
        self.claimed: dict[tuple[bytes, str], int] = {}  # claimed deliveries, no outcome yet -> delivery id

    @staticmethod
    def chosen(keys: list[Any], picks: list[int]) -> list[Any]:
        ordered = sorted(keys)
        return [ordered[i % len(ordered)] for i in picks] if ordered else []

    def run(self, op: tuple[Any, ...]) -> object:
        name, *args = op
        store = self.store
        if name == "append":
            rows, window = args
            events = []
            for message_id, source, user, offset in rows:
                events.append(
                    NewEvent(source, message_id, user, "track", T0 + offset, b'{"n": %d}' % self.appended)
                )
                self.appended += 1
            return store.append(events, dedup_window=window)
        if name == "claim_unrouted":
            claimed = store.claim_unrouted("r", args[0], 30)
            self.unrouted.update({e.payload: e.id for e in claimed})
            return [(e.payload, e.received_at) for e in claimed]
        if name == "route":
            picks, mappings = args
            keys = dict.fromkeys(self.chosen(list(self.unrouted), picks))
            store.route([(self.unrouted.pop(k), mappings) for k in keys])
            return None
        if name == "claim":
            mapping, limit, now = args
            deliveries = store.claim_deliveries("w", mapping, limit, 30, T0 + now)
            self.claimed.update({(d.payload, d.mapping): d.id for d in deliveries})
            return [(d.payload, d.mapping, d.attempts, d.first_attempt_at, d.received_at) for d in deliveries]
        if name in ("ack", "retry", "release", "dead_letter"):
            picks, at = args
            ids = [self.claimed.pop(k) for k in dict.fromkeys(self.chosen(list(self.claimed), picks))]
            if name == "ack":
                store.ack(ids)
            elif name == "retry":
                store.retry(ids, at=T0 + at, error="503", now=T0 + at / 2)
            elif name == "release":
                store.release(ids)
            else:
                store.dead_letter(ids, reason="400", status=400, request="{}", response="bad")
            return None
        if name == "replay":
            return store.replay_dead_letters(where=DeadLetterFilter(mapping=args[0]))
        if name == "purge_dead":
            return store.purge_dead_letters(where=DeadLetterFilter(mapping=args[0]))
        if name == "drop_user":
            # Handles of deleted events and deliveries are forgotten: SQLite reuses the largest id after a
            # delete, so a stale handle could name a newer row there (PostgreSQL never reuses ids).
            self.unrouted.clear()
            self.claimed.clear()
            return store.drop_user(args[0])
        assert name == "purge", name
        older_than, limit = args
        return store.purge_delivered(T0 + older_than, limit=limit)

    def observe(self, now: float) -> object:
        """Everything the read-only methods say at `now`."""
        letters = [
            (x.payload, x.mapping, x.reason, x.status, x.attempts, x.request, x.response)
            for x in self.store.list_dead_letters()
        ]
        return self.store.stats(now), self.store.due_mappings(now), letters


@contextmanager
def both_stores(postgres_server: str) -> Iterator[tuple[Store, Store]]:
    schema = f"parity_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    url = postgres_server + ("&" if "?" in postgres_server else "?") + f"options=-csearch_path%3D{schema}"
    with tempfile.TemporaryDirectory() as tmp:
        sqlite, postgres = SQLiteStore(Path(tmp) / "q.db"), PostgresStore(url, pool_size=1)
        try:
            yield sqlite, postgres
        finally:
            sqlite.close()
            postgres.close()
            with psycopg.connect(postgres_server, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.parametrize("seed", range(40))
def test_postgres_answers_as_sqlite_does(postgres_server: str, seed: int) -> None:
    rng = random.Random(seed)
    with both_stores(postgres_server) as (sqlite, postgres):
        expected, actual = Driver(sqlite), Driver(postgres)
        for step in range(60):
            op = random_op(rng)
            assert actual.run(op) == expected.run(op), f"step {step}: {op}"
            now = T0 + rng.randint(0, 200)
            assert actual.observe(now) == expected.observe(now), f"after step {step}: {op}"
