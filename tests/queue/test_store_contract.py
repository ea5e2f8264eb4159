"""Contract tests for the `Store` protocol, run against every implementation through `store_factory`.

`store_factory()` opens a new store instance on the same backing storage each time it is called (a second
process's view); `store` is the first instance. A PostgreSQL store joins by adding a parameter to
`store_factory`.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest

from gleap_actions.deliver import discard
from gleap_actions.queue.factory import open_store
from gleap_actions.queue.profiles import StoredComputation
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import DeadLetterFilter, Delivery, NewEvent, Route, Store, StoreFullError

StoreFactory = Callable[[], Store]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    if request.param == "postgres":
        location = request.getfixturevalue("postgres_url")
    else:
        location = str(tmp_path / "queue.db")
    opened: list[Store] = []

    def factory() -> Store:
        store = open_store(location).store
        opened.append(store)
        return store

    yield factory
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> Store:
    return store_factory()


def event(
    n: int,
    *,
    source: str = "src",
    user: str | None = "u1",
    at: float | None = None,
    route: Route | None = None,
) -> NewEvent:
    return NewEvent(
        source=source,
        message_id=f"m-{n}",
        user_id=user,
        type="track",
        received_at=time.time() if at is None else at,
        payload=b'{"n": %d}' % n,
        route=route,
    )


def routed_deliveries(store: Store, n: int, mappings: tuple[str, ...] = ("A",)) -> list[int]:
    """Append n events, each of its own user (per-user order is tested apart), and route each to
    `mappings`; returns the event ids."""
    store.append([event(i, user=f"u{i}") for i in range(n)])
    claimed = store.claim_unrouted("router", n, 30)
    store.route([(e.id, mappings) for e in claimed])
    return [e.id for e in claimed]


# -- append and dedup ---------------------------------------------------------------------------------


def test_append_stores_events_and_reports_duplicates(store: Store) -> None:
    assert store.append([event(1), event(2), event(1)]) == [True, True, False]
    assert store.append([event(2), event(3)]) == [False, True]
    assert store.append([]) == []
    claimed = store.claim_unrouted("r", 10, 30)
    assert [e.payload for e in claimed] == [b'{"n": 1}', b'{"n": 2}', b'{"n": 3}']


def test_dedup_is_per_source(store: Store) -> None:
    assert store.append([event(1, source="a"), event(1, source="b")]) == [True, True]


def test_claimed_events_carry_their_source(store: Store) -> None:
    # The router sends each event to its source's destinations: it must know the source of what it claims.
    store.append([event(1, source="web"), event(2, source="app")])
    assert [(e.payload, e.source) for e in store.claim_unrouted("r", 10, 30)] == [
        (b'{"n": 1}', "web"),
        (b'{"n": 2}', "app"),
    ]


def test_deliveries_of_destinations_are_apart_and_removed_ones_are_kept_until_discarded(store: Store) -> None:
    # Deliveries are keyed by (destination, mapping): "Track" of `default`, "eu/Track" of `eu`.
    ids = routed_deliveries(store, 3, ("Track", "eu/Track", "gone/Track"))
    now = time.time()
    assert store.due_mappings(now) == {"Track": 3, "eu/Track": 3, "gone/Track": 3}
    eu = store.claim_deliveries("w", "eu/Track", 10, 30, now)
    assert sorted(d.event_id for d in eu) == ids and {d.mapping for d in eu} == {"eu/Track"}
    store.ack([d.id for d in eu])
    assert store.stats(now).per_mapping["Track"]["pending"] == 3  # `default` untouched by eu's acks
    # `gone` was removed from the config: its deliveries wait until discarded on purpose.
    assert discard.unconfigured(store, frozenset({"Track", "eu/Track"})) == {"gone/Track": 3}
    assert discard.discard(store, "gone/Track", owner="admin") == 3
    letters = store.list_dead_letters(DeadLetterFilter(mapping="gone/Track"))
    assert [d.reason for d in letters] == [discard.REASON] * 3
    assert discard.unconfigured(store, frozenset({"Track", "eu/Track"})) == {}
    assert (
        store.replay_dead_letters(where=DeadLetterFilter(mapping="gone/Track")) == 3
    )  # recoverable until purged


def test_dead_letters_and_stats_by_destination(store: Store) -> None:
    # The destination is a column of its own: "Track" and "a b/x" are `default`'s, "eu/..." are eu's.
    routed_deliveries(store, 2, ("Track", "eu/Track", "eu/Page", "a b/x"))
    now = time.time()
    queues = store.stats(now).per_destination
    assert {name: (q.pending, q.in_flight, q.dead_letters) for name, q in queues.items()} == {
        "default": (4, 0, 0),
        "eu": (4, 0, 0),
    }
    assert queues["eu"].oldest_age >= 0
    for key, reason, status in (
        ("eu/Track", "rejected", 400),
        ("eu/Page", "timeout", None),
        ("Track", "rejected", 400),
    ):
        claimed = store.claim_deliveries("w", key, 10, 30, now)
        store.dead_letter([d.id for d in claimed], reason=reason, status=status, request="{}", response="")
    letters = store.list_dead_letters()
    assert [(x.destination, x.mapping) for x in letters] == [("eu", "eu/Track")] * 2 + [
        ("eu", "eu/Page")
    ] * 2 + [("default", "Track")] * 2

    def chosen(**where: object) -> list[str]:
        return [x.mapping for x in store.list_dead_letters(DeadLetterFilter(**where))]  # type: ignore[arg-type]

    assert chosen(destination="eu") == ["eu/Track"] * 2 + ["eu/Page"] * 2
    assert chosen(destination="eu", reason="rejected") == ["eu/Track"] * 2
    assert chosen(reason="REJ") == ["eu/Track"] * 2 + ["Track"] * 2  # contained, any case
    assert chosen(destination="default", status=400) == ["Track"] * 2
    assert chosen(destination="eu", mapping="eu/Page", reason="timeout") == ["eu/Page"] * 2
    assert chosen(destination="default", mapping="eu/Page") == []
    stats = store.stats(now).per_destination
    assert (stats["eu"].pending, stats["eu"].dead_letters, stats["default"].pending) == (0, 4, 2)
    assert store.replay_dead_letters(where=DeadLetterFilter(destination="eu", status=400)) == 2
    assert store.purge_dead_letters(where=DeadLetterFilter(destination="default")) == 2
    assert chosen() == ["eu/Page"] * 2
    assert store.stats(now).per_destination["eu"].pending == 2


def test_user_sources_are_those_of_the_users_stored_events(store: Store) -> None:
    store.append([event(1, source="web"), event(2, source="app"), event(3, source="web"), event(4, user="x")])
    assert store.user_sources("u1") == ["app", "web"]
    assert store.user_sources("nobody") == []
    store.drop_user("u1")
    assert store.user_sources("u1") == []


def test_dedup_window(store: Store) -> None:
    t0 = time.time()
    assert store.append([event(1, at=t0)], dedup_window=10) == [True]
    assert store.append([event(1, at=t0 + 9)], dedup_window=10) == [False]
    # Outside the window (counted from the first sighting) the same id is a new event.
    assert store.append([event(1, at=t0 + 11)], dedup_window=10) == [True]
    assert store.append([event(1, at=t0 + 12)], dedup_window=10) == [False]
    assert len(store.claim_unrouted("r", 10, 30)) == 2


# -- routing ------------------------------------------------------------------------------------------


def test_claim_unrouted_oldest_first_and_leased(store: Store) -> None:
    store.append([event(i) for i in range(5)])
    first = store.claim_unrouted("r1", 3, 30)
    assert [e.payload for e in first] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    second = store.claim_unrouted("r2", 10, 30)
    assert [e.payload for e in second] == [b'{"n": 3}', b'{"n": 4}']
    assert store.claim_unrouted("r3", 10, 30) == []


def test_expired_unrouted_lease_is_reclaimed(store: Store) -> None:
    store.append([event(1)])
    assert len(store.claim_unrouted("dead-process", 10, 0.05)) == 1
    assert store.claim_unrouted("other", 10, 30) == []
    time.sleep(0.1)
    assert len(store.claim_unrouted("other", 10, 30)) == 1


def test_route_creates_deliveries_and_filters(store: Store) -> None:
    store.append([event(1), event(2)])
    e1, e2 = store.claim_unrouted("r", 10, 30)
    store.route([(e1.id, ["A", "B"]), (e2.id, [])])
    now = time.time()
    assert store.due_mappings(now) == {"A": 1, "B": 1}
    stats = store.stats(now)
    assert (stats.unrouted, stats.pending) == (0, 2)
    # Routing an event twice (an expired lease routed by someone else) creates nothing more.
    store.route([(e1.id, ["A"])])
    assert store.due_mappings(now) == {"A": 1, "B": 1}


# -- delivery -----------------------------------------------------------------------------------------


def router(store: Store, decide: Callable[[int], tuple[str, ...]] = lambda n: ("A",)) -> None:
    """What the router does: route every unrouted event by its payload's "n" (a store may leave events
    routed at append to it, which decides the same again)."""
    claimed = store.claim_unrouted("router", 1000, 30)
    store.route([(e.id, decide(orjson.loads(e.payload)["n"])) for e in claimed])


def test_events_routed_at_append_are_delivered_exactly_once(store: Store) -> None:
    now = time.time()
    routes = {1: ("A", "B", "A"), 2: (), 3: ("A",)}
    both, filtered = Route(routes[1]), Route((), "no_matching_mapping")
    appended = [event(1, route=both), event(2, route=filtered), event(3), event(1, route=both)]
    assert store.append(appended) == [True, True, True, False]
    router(store, routes.__getitem__)  # event 3 (no route) is left to the router by every store
    stats = store.stats(now + 1)
    assert (stats.unrouted, stats.pending, stats.per_mapping["A"]["pending"]) == (0, 3, 2)
    a = store.claim_deliveries("w", "A", 100, 30, now + 1)
    b = store.claim_deliveries("w", "B", 100, 30, now + 1)
    assert [d.payload for d in a] == [b'{"n": 1}', b'{"n": 3}']
    assert [d.payload for d in b] == [b'{"n": 1}']
    store.ack([d.id for d in a + b])
    router(store)
    assert store.claim_deliveries("w", "A", 100, 30, now + 1) == []
    stats = store.stats(now + 1)
    assert (stats.unrouted, stats.pending, stats.in_flight) == (0, 0, 0)


def test_routed_at_append_mixed_with_unrouted_keeps_ids_and_order(store: Store) -> None:
    now = time.time()
    store.append([event(1)])  # appended without routing, e.g. by an ingest-only node
    store.append([event(i, route=Route(("A",)) if i % 2 else None) for i in range(2, 8)])
    router(store)
    claimed = store.claim_deliveries("w", "A", 100, 30, now + 1)
    assert [d.payload for d in claimed] == [b'{"n": %d}' % i for i in range(1, 8)]
    assert len({d.event_id for d in claimed}) == 7


def test_claim_deliveries_oldest_event_first(store: Store) -> None:
    ids = routed_deliveries(store, 4, ("A", "B"))
    now = time.time()
    claimed = store.claim_deliveries("w", "A", 3, 30, now)
    assert [d.event_id for d in claimed] == ids[:3]
    assert all(d.mapping == "A" and d.attempts == 0 and d.first_attempt_at is None for d in claimed)
    assert claimed[0].payload == b'{"n": 0}'
    assert [d.event_id for d in store.claim_deliveries("w2", "A", 10, 30, now)] == ids[3:]
    assert store.claim_deliveries("w3", "A", 10, 30, now) == []
    assert len(store.claim_deliveries("w", "B", 10, 30, now)) == 4


def test_delivery_lease_expiry(store: Store) -> None:
    routed_deliveries(store, 2)
    now = time.time()
    assert len(store.claim_deliveries("dead", "A", 10, 5, now)) == 2
    assert store.due_mappings(now) == {}
    assert store.claim_deliveries("w", "A", 10, 5, now + 4) == []
    assert len(store.claim_deliveries("w", "A", 10, 5, now + 6)) == 2


def test_ack_removes_deliveries(store: Store) -> None:
    routed_deliveries(store, 2)
    now = time.time()
    claimed = store.claim_deliveries("w", "A", 10, 30, now)
    store.ack([d.id for d in claimed])
    assert store.claim_deliveries("w", "A", 10, 30, now + 100) == []
    stats = store.stats(now)
    assert (stats.pending, stats.in_flight, stats.oldest_pending_age) == (0, 0, 0.0)


def test_retry_schedules_and_counts_attempts(store: Store) -> None:
    routed_deliveries(store, 1)
    now = time.time()
    [d] = store.claim_deliveries("w", "A", 10, 30, now)
    store.retry([d.id], at=now + 60, error="503 from Gleap", now=now)
    assert store.claim_deliveries("w", "A", 10, 30, now + 59) == []
    assert store.stats(now).retrying == 1
    [again] = store.claim_deliveries("w", "A", 10, 30, now + 61)
    assert (again.attempts, again.first_attempt_at) == (1, now)
    store.retry([again.id], at=now + 120, error="timeout", now=now + 61)
    [third] = store.claim_deliveries("w", "A", 10, 30, now + 121)
    assert (third.attempts, third.first_attempt_at) == (2, now)


def test_release_returns_work_without_an_attempt(store: Store) -> None:
    routed_deliveries(store, 1)
    now = time.time()
    [d] = store.claim_deliveries("w", "A", 10, 30, now)
    store.release([d.id])
    [again] = store.claim_deliveries("w", "A", 10, 30, now)
    assert again.id == d.id and again.attempts == 0


def test_due_mappings_and_stats(store: Store) -> None:
    store.append([event(1), event(2)])
    assert store.stats(time.time()).unrouted == 2
    routed = store.claim_unrouted("r", 10, 30)
    store.route([(e.id, ["A", "B"]) for e in routed])
    store.append([event(3)])
    now = time.time()
    [a1] = store.claim_deliveries("w", "A", 1, 30, now)
    store.retry([a1.id], at=now + 60, error="x", now=now)
    [b1] = store.claim_deliveries("w", "B", 1, 30, now)
    assert store.due_mappings(now) == {"A": 1, "B": 1}
    store.dead_letter([b1.id], reason="400", status=400, request="{}", response="bad")
    stats = store.stats(now)
    assert stats.unrouted == 1
    assert (stats.pending, stats.retrying, stats.in_flight, stats.dead_letters) == (3, 1, 0, 1)
    assert stats.per_mapping == {
        "A": {"pending": 2, "retrying": 1, "in_flight": 0, "dead_letters": 0},
        "B": {"pending": 1, "retrying": 0, "in_flight": 0, "dead_letters": 1},
    }
    assert stats.oldest_pending_age >= 0
    assert store.stats(now + 100).oldest_pending_age >= 100


# -- per-user order -----------------------------------------------------------------------------------

T0 = 1_700_000_000.0


def user_event(message_id: str, user: str | None, at: float) -> NewEvent:
    """An event of `user` that happened at `at` (arrival order is the order of `queue` calls)."""
    payload = orjson.dumps({"id": message_id})
    return NewEvent("src", message_id, user, "identify", time.time(), payload, ordered_at=at)


def queue(store: Store, *events: NewEvent) -> None:
    """Append and route `events` to mapping A, in this arrival order."""
    store.append(list(events))
    store.route([(e.id, ("A",)) for e in store.claim_unrouted("router", 100, 30)])


def ids(deliveries: list[Delivery]) -> list[str]:
    return [orjson.loads(d.payload)["id"] for d in deliveries]


def test_a_users_deliveries_are_claimed_together_in_event_order(store: Store) -> None:
    # Arrival order is not event order; equal timestamps are ordered by message id.
    queue(
        store,
        user_event("a-late", "a", T0 + 2),
        user_event("b-1", "b", T0),
        user_event("a-first", "a", T0),
        user_event("a-tie-y", "a", T0 + 1),
        user_event("a-tie-x", "a", T0 + 1),
    )
    claimed = store.claim_deliveries("w", "A", 10, 30, time.time())
    assert ids(claimed) == ["a-first", "a-tie-x", "a-tie-y", "a-late", "b-1"]
    assert [d.user for d in claimed] == ["a", "a", "a", "a", "b"]


def test_a_claim_takes_a_prefix_and_the_rest_waits_for_it(store_factory: StoreFactory) -> None:
    node1, node2 = store_factory(), store_factory()
    queue(node1, *(user_event(f"a{i}", "a", T0 + i) for i in range(4)), user_event("b0", "b", T0))
    now = time.time()
    first = node1.claim_deliveries("w1", "A", 2, 30, now)
    assert ids(first) == ["a0", "a1"]
    # Another node: a's later events wait while its earlier ones are out; b is not held back.
    assert ids(node2.claim_deliveries("w2", "A", 10, 30, now)) == ["b0"]
    node1.ack([d.id for d in first])
    assert ids(node2.claim_deliveries("w2", "A", 10, 30, now)) == ["a2", "a3"]


def test_a_retrying_user_holds_back_its_later_events_but_no_other_user(store: Store) -> None:
    queue(store, user_event("a0", "a", T0))
    now = time.time()
    [head] = store.claim_deliveries("w", "A", 10, 30, now)
    store.retry([head.id], at=now + 60, error="HTTP 500", now=now)
    # More of a's events than a claim takes arrive before b's: they must not crowd b out.
    queue(store, *(user_event(f"a{i}", "a", T0 + i) for i in range(1, 30)))
    queue(store, user_event("b0", "b", T0), user_event("b1", "b", T0 + 1))
    now = time.time()
    assert ids(store.claim_deliveries("w", "A", 5, 600, now)) == ["b0", "b1"]
    assert store.claim_deliveries("w", "A", 5, 600, now) == []
    # When the head is due again, it goes first, with the events that waited for it.
    assert ids(store.claim_deliveries("w", "A", 5, 30, now + 61)) == ["a0", "a1", "a2", "a3", "a4"]


def test_dead_lettering_the_head_releases_the_rest(store: Store) -> None:
    queue(store, user_event("a0", "a", T0), user_event("a1", "a", T0 + 1))
    now = time.time()
    [head] = store.claim_deliveries("w", "A", 1, 30, now)
    assert store.claim_deliveries("w", "A", 10, 30, now) == []  # a1 waits for a0
    store.dead_letter([head.id], reason="HTTP 400", status=400, request="{}", response="")
    assert ids(store.claim_deliveries("w", "A", 10, 30, now)) == ["a1"]


def test_an_event_arriving_late_waits_for_the_users_request_in_flight(store: Store) -> None:
    queue(store, user_event("a1", "a", T0 + 1))
    now = time.time()
    [in_flight] = store.claim_deliveries("w", "A", 10, 30, now)
    queue(store, user_event("a0", "a", T0), user_event("c0", None, T0))
    now = time.time()
    assert ids(store.claim_deliveries("w", "A", 10, 30, now)) == ["c0"]  # no user: no order to keep
    store.ack([in_flight.id])
    assert ids(store.claim_deliveries("w", "A", 10, 30, now)) == ["a0"]


def test_a_claim_can_be_bounded_in_users(store: Store) -> None:
    queue(
        store,
        user_event("a0", "a", T0),
        user_event("a1", "a", T0 + 1),
        user_event("b0", "b", T0),
        user_event("c0", "c", T0),
    )
    now = time.time()
    assert ids(store.claim_deliveries("w", "A", 10, 30, now, users=2)) == ["a0", "a1", "b0"]
    assert ids(store.claim_deliveries("w", "A", 10, 30, now, users=2)) == ["c0"]


# -- dead letters -------------------------------------------------------------------------------------


def test_dead_letters_list_get_replay_purge(store: Store) -> None:
    routed_deliveries(store, 3, ("A", "B"))
    now = time.time()
    a = store.claim_deliveries("w", "A", 10, 30, now)
    b = store.claim_deliveries("w", "B", 10, 30, now)
    store.retry([a[0].id], at=now, error="x", now=now)
    [a0] = store.claim_deliveries("w", "A", 1, 30, now)
    store.dead_letter(
        [a0.id, a[1].id], reason="400 Bad Request", status=400, request='{"url": "..."}', response="no"
    )
    store.dead_letter([b[0].id], reason="timeout", status=None, request="{}", response="")
    letters = store.list_dead_letters()
    assert [(x.mapping, x.reason, x.status) for x in letters] == [
        ("A", "400 Bad Request", 400),
        ("A", "400 Bad Request", 400),
        ("B", "timeout", None),
    ]
    assert letters[0].attempts == 2 and letters[0].payload == b'{"n": 0}'
    assert letters[0].request == '{"url": "..."}' and letters[0].response == "no"
    assert [x.mapping for x in store.list_dead_letters(DeadLetterFilter(mapping="B"))] == ["B"]
    assert [x.id for x in store.list_dead_letters(after_id=letters[0].id, limit=1)] == [letters[1].id]
    assert store.get_dead_letter(letters[2].id) == letters[2]
    assert store.get_dead_letter(10**9) is None

    assert store.replay_dead_letters([letters[0].id]) == 1
    [replayed] = store.claim_deliveries("w", "A", 10, 30, time.time() + 1)
    assert (replayed.event_id, replayed.attempts, replayed.first_attempt_at) == (letters[0].event_id, 0, None)
    assert store.replay_dead_letters(where=DeadLetterFilter(mapping="B")) == 1
    assert [x.id for x in store.list_dead_letters()] == [letters[1].id]
    assert store.purge_dead_letters(where=DeadLetterFilter(mapping="B")) == 0
    assert store.purge_dead_letters() == 1
    assert store.list_dead_letters() == []
    assert store.stats(time.time()).dead_letters == 0


def test_replay_and_purge_all(store: Store) -> None:
    routed_deliveries(store, 2)
    claimed = store.claim_deliveries("w", "A", 10, 30, time.time())
    store.dead_letter([d.id for d in claimed], reason="r", status=422, request="{}", response="")
    assert store.replay_dead_letters() == 2
    claimed = store.claim_deliveries("w", "A", 10, 30, time.time() + 1)
    store.dead_letter([d.id for d in claimed], reason="r", status=422, request="{}", response="")
    ids = [x.id for x in store.list_dead_letters()]
    assert store.purge_dead_letters([ids[0]]) == 1
    assert [x.id for x in store.list_dead_letters()] == ids[1:]


# -- privacy and retention ----------------------------------------------------------------------------


def test_drop_user(store: Store) -> None:
    store.append([event(1, user="alice"), event(2, user="bob"), event(3, user="alice"), event(4, user=None)])
    claimed = store.claim_unrouted("r", 2, 30)
    store.route([(e.id, ["A"]) for e in claimed])
    [d1, _] = store.claim_deliveries("w", "A", 10, 30, time.time())
    store.dead_letter([d1.id], reason="r", status=400, request="{}", response="")
    # Only alice's event 3 was still queued (event 1 is a dead letter): the count says what was held back.
    assert store.drop_user("alice") == 1
    assert store.drop_user("nobody") == 0
    assert store.list_dead_letters() == []
    remaining = [d.payload for d in store.claim_deliveries("w", "A", 10, 30, time.time() + 100)]
    remaining += [e.payload for e in store.claim_unrouted("r2", 10, 30)]
    assert sorted(remaining) == [b'{"n": 2}', b'{"n": 4}']


# -- destination --------------------------------------------------------------------------------------


def test_destination_is_recorded_and_seen_by_another_instance(store_factory: StoreFactory) -> None:
    store = store_factory()
    assert store.destination() is None
    assert store.set_destination("https://api.gleap.io token:aaa") == 0
    assert store_factory().destination() == "https://api.gleap.io token:aaa"
    store.set_destination("http://127.0.0.1:1 token:bbb")
    assert store_factory().destination() == "http://127.0.0.1:1 token:bbb"


def test_set_destination_can_discard_pending_work_and_keeps_dead_letters(store: Store) -> None:
    store.append([event(i) for i in range(4)])
    claimed = store.claim_unrouted("r", 2, 30)
    store.route([(e.id, ["A", "B"]) for e in claimed])  # 4 deliveries; 2 events left unrouted
    [d1, *_] = store.claim_deliveries("w", "A", 10, 30, time.time())
    store.dead_letter([d1.id], reason="r", status=400, request="{}", response="")
    assert store.set_destination("elsewhere", discard_pending=True) == 3 + 2
    stats = store.stats(time.time())
    assert (stats.unrouted, stats.pending, stats.in_flight, stats.dead_letters) == (0, 0, 0, 1)
    assert store.claim_unrouted("r2", 10, 30) == []
    assert store.destination() == "elsewhere"


def test_drop_user_counts_only_undelivered_events(store: Store) -> None:
    store.append([event(1, user="carol"), event(2, user="carol"), event(3, user="carol")])
    claimed = store.claim_unrouted("r", 2, 30)
    store.route([(e.id, ["A", "B"]) for e in claimed])
    deliveries = store.claim_deliveries("w", "A", 10, 30, time.time())
    store.ack([d.id for d in deliveries])  # event 1 and 2 delivered by A, still pending for B
    b_deliveries = store.claim_deliveries("w", "B", 1, 30, time.time())
    store.ack([d.id for d in b_deliveries])  # event 1 fully delivered
    assert store.drop_user("carol") == 2  # event 2 (pending for B) and event 3 (unrouted)


def test_purge_delivered_keeps_undelivered_and_recent(store: Store) -> None:
    old = time.time() - 1000
    store.append([event(i, at=old) for i in range(6)] + [event(9)], dedup_window=10)
    claimed = store.claim_unrouted("r", 5, 30)  # event 5 stays unrouted
    store.route([(claimed[0].id, []), (claimed[1].id, ["A"]), (claimed[2].id, ["A"]), (claimed[3].id, ["A"])])
    store.route([(claimed[4].id, ["A"])])
    now = time.time()
    d = store.claim_deliveries("w", "A", 10, 30, now)
    store.ack([d[0].id, d[1].id])  # events 1, 2 delivered; 3 dead; 4 pending
    store.dead_letter([d[2].id], reason="r", status=400, request="{}", response="")
    assert store.purge_delivered(now - 500, limit=1) == 1
    assert store.purge_delivered(now - 500) == 2
    assert store.purge_delivered(now - 500) == 0
    # What was kept: the dead letter's event, the pending and the unrouted ones, the recent one.
    assert store.list_dead_letters()[0].payload == b'{"n": 3}'
    assert store.stats(now).in_flight == 1
    assert [e.payload for e in store.claim_unrouted("r2", 10, 30)] == [b'{"n": 5}', b'{"n": 9}']
    # Expired dedup entries went too: the old ids are new again.
    assert store.append([event(1), event(9)], dedup_window=10) == [True, False]


# -- durability ---------------------------------------------------------------------------------------


def test_second_instance_sees_committed_state(store_factory: StoreFactory) -> None:
    first = store_factory()
    routed_deliveries(first, 2)
    second = store_factory()
    now = time.time()
    assert second.due_mappings(now) == {"A": 2}
    [d] = first.claim_deliveries("w1", "A", 1, 30, now)
    assert [x.event_id for x in second.claim_deliveries("w2", "A", 10, 30, now)] != [d.event_id]
    assert second.append([event(0)]) == [False]  # dedup state is shared


def test_store_full_raises(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "small.db", max_bytes=64 * 1024)
    big = b"x" * 4000
    with pytest.raises(StoreFullError):
        for i in range(100):
            store.append([NewEvent("s", f"m{i}", None, "track", time.time(), big)])
    # A failed append wrote nothing of its batch; what was committed before is intact.
    committed = store.claim_unrouted("r", 1000, 30)
    assert 0 < len(committed) < 100
    store.close()


KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    from gleap_actions.queue.sqlite.store import SQLiteStore
    from gleap_actions.queue.store import NewEvent
    store = SQLiteStore(sys.argv[1])
    for batch in range(100000):
        store.append([NewEvent("s", f"{batch}-{i}", None, "track", time.time(), b"{}") for i in range(50)])
        print(batch, flush=True)
    """
)


def test_sigkill_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "killed.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    last = -1
    for line in proc.stdout:
        last = int(line)
        if last >= 20:
            break
    proc.kill()  # SIGKILL, mid-way through later appends
    proc.wait()
    store = SQLiteStore(path)
    stored = len(store.claim_unrouted("r", 10**7, 30))
    store.close()
    assert stored >= (last + 1) * 50  # every append reported done is there
    assert stored % 50 == 0  # and no append is half there


def _live_computation(store: Store, read_up_to: int) -> None:
    """A live definition whose compute stage has read the events up to `read_up_to`."""
    profiles = store.profiles
    profiles.put_computation(
        StoredComputation("k", "K", "audience", "c1", "event('X').count() >= 1", "live", 0)
    )
    profiles.open_cursor()
    profiles.run(lambda tx: tx.advance(read_up_to))


def test_purge_delivered_keeps_the_events_a_lagging_compute_stage_has_not_read(store: Store) -> None:
    old = time.time() - 1000
    store.append([event(i, at=old) for i in range(6)], dedup_window=10)
    claimed = store.claim_unrouted("r", 10, 30)
    store.route([(e.id, ()) for e in claimed])  # all delivered, all past the retention
    _live_computation(store, claimed[1].id)
    assert store.purge_delivered(time.time() - 500) == 2
    assert store.profiles.read_events(0, 10, time.time())[0][0] == claimed[2].id  # still there to read
    store.profiles.run(lambda tx: tx.advance(claimed[4].id))
    assert store.purge_delivered(time.time() - 500) == 3
    store.profiles.put_computation(
        StoredComputation("k", "K", "audience", "c1", "event('X').count() >= 1", "removed", 0)
    )
    assert store.purge_delivered(time.time() - 500) == 1  # nothing live: the cursor holds nothing back


def test_lag_counts_the_events_after_the_compute_stage_cursor(store: Store) -> None:
    assert store.profiles.lag(time.time()) is None  # no stage has placed its cursor
    store.profiles.open_cursor()
    assert store.profiles.lag(time.time()) == (0, 0.0)
    now = time.time()
    store.append([event(i, at=now - 60 + i) for i in range(4)], dedup_window=10)
    ids = [e.id for e in store.claim_unrouted("r", 10, 30)]
    assert store.profiles.lag(now) == (4, pytest.approx(60.0))
    store.profiles.run(lambda tx: tx.advance(ids[1]))
    assert store.profiles.lag(now) == (2, pytest.approx(58.0))
    store.profiles.run(lambda tx: tx.advance(ids[3]))
    assert store.profiles.lag(now) == (0, 0.0)


def test_purge_delivered_in_many_small_transactions(store: Store) -> None:
    old = time.time() - 1000
    store.append([event(i, at=old) for i in range(1200)], dedup_window=10)
    claimed = store.claim_unrouted("r", 2000, 30)
    store.route([(e.id, ()) for e in claimed])
    assert store.purge_delivered(time.time() - 500, limit=700) == 700
    assert store.purge_delivered(time.time() - 500) == 500
    assert store.append([event(i) for i in range(1200)], dedup_window=10) == [True] * 1200


# -- ids ----------------------------------------------------------------------------------------------


def test_ids_are_never_reused_after_deletion(store: Store) -> None:
    # A worker whose lease expired acks by id: a reused id would delete someone else's newer delivery.
    routed_deliveries(store, 1)
    [first] = store.claim_deliveries("w", "A", 10, 30, time.time())
    store.ack([first.id])
    assert store.purge_delivered(time.time() + 1) == 1  # the event row is gone too
    store.append([event(100)])
    [claimed] = store.claim_unrouted("router", 10, 30)
    assert claimed.id > first.event_id
    store.route([(claimed.id, ("A",))])
    [second] = store.claim_deliveries("w", "A", 10, 30, time.time())
    assert second.id > first.id
    store.ack([first.id])  # a stale ack of the old id leaves the new delivery alone
    assert [d.id for d in store.claim_deliveries("w2", "A", 10, 30, time.time() + 60)] == [second.id]
