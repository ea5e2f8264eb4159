"""Initial sync over the queue's retained events (real SQLite and PostgreSQL stores): events accepted
before the stage first ran, and events of a name no definition referenced until one is added, count."""

from __future__ import annotations

from gleap_actions.compute import Computer
from gleap_actions.compute.status import status, sync_states
from gleap_actions.queue.store import Store

from .support import Clock, append, computation, identifies

PRO_BUYERS = computation(
    "Pro Buyers", "trait('plan') = 'pro' AND event('Order Completed').count() >= 2", key="pro_buyers"
)
SIGNED_UP = computation("Signed Up", "event('Signed Up').count() >= 1", key="signed_up")


def _run(computer: Computer, clock: Clock) -> None:
    clock.now += computer.profiles.settle + 0.001
    while computer.step():
        pass


def test_events_accepted_before_the_stage_first_ran_are_synced(store: Store) -> None:
    clock = Clock()
    # Accepted (say by an ingest-only node) before any compute stage ran: an anonymous visitor's first
    # order, then they sign in (alias), a newer identify overriding the plan, and a second order.
    append(store, {"type": "track", "event": "Order Completed", "anonymousId": "a1"}, at=clock.now - 50)
    append(store, {"type": "identify", "userId": "u1", "traits": {"plan": "free"}}, at=clock.now - 40)
    append(store, {"type": "alias", "userId": "u1", "previousId": "a1"}, at=clock.now - 30)
    append(store, {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}, at=clock.now - 20)
    append(store, {"type": "track", "event": "Order Completed", "userId": "u1"}, at=clock.now - 10)
    append(store, {"type": "track", "event": "Order Completed", "userId": "u2"}, at=clock.now - 10)
    computer = Computer(store, [PRO_BUYERS], owner="test", clock=clock)
    computer.profiles.open_cursor()  # as serve does before ingest starts: at the end of the queue
    _run(computer, clock)
    sent = identifies(store)
    assert [(e["userId"], e["traits"]["pro_buyers"]) for e in sent] == [("u1", True)]
    assert computer.profiles.computations()["pro_buyers"].state == "live"
    assert computer.profiles.size()["profile_events"] == 3
    assert computer.profiles.backfills() == []


def test_a_definition_over_a_name_not_kept_until_now_reads_the_queue_back(store: Store) -> None:
    clock = Clock()
    computer = Computer(store, [PRO_BUYERS], owner="test", clock=clock)
    computer.profiles.open_cursor()
    for user in ("u1", "u2", "u3"):
        append(store, {"type": "track", "event": "Signed Up", "userId": user}, at=clock.now)
    _run(computer, clock)
    assert computer.profiles.size()["profile_events"] == 0  # no definition reads `Signed Up` yet
    computer.reconfigure([PRO_BUYERS, SIGNED_UP], "keep")
    _run(computer, clock)
    assert sorted(e["userId"] for e in identifies(store)) == ["u1", "u2", "u3"]
    assert computer.profiles.size()["profile_events"] == 3
    # Afterwards only changes: a new sign-up is live, nothing is read back again.
    append(store, {"type": "track", "event": "Signed Up", "userId": "u4"}, at=clock.now)
    _run(computer, clock)
    assert [e["userId"] for e in identifies(store)] == ["u4"]
    assert computer.profiles.size()["profile_events"] == 4


def test_a_backfill_shows_its_progress_and_resumes_after_a_restart(store: Store) -> None:
    clock = Clock()
    for n in range(8):
        append(store, {"type": "track", "event": "Signed Up", "userId": f"u{n}"}, at=clock.now)
    seen: list[int] = []

    class Observer:
        def changed(self, *_: object) -> None: ...
        def evaluated(self, _seconds: float) -> None: ...
        def stored(self, *_: object) -> None: ...
        def sync_left(self, _key: str, _left: int) -> None: ...
        def backfill_left(self, left: int) -> None:
            seen.append(left)

    computer = Computer(store, [SIGNED_UP], owner="test", clock=clock, batch=3, metrics=Observer())
    computer.profiles.open_cursor()
    clock.now += computer.profiles.settle + 0.001
    computer.step()  # reads back 3 of the 8 events
    assert seen == [5]
    document = status([SIGNED_UP], computer.profiles)[0]
    assert document["state"] == "syncing" and document["sync"]["backfill_events_left"] == 5
    assert "5 left" in sync_states(computer.profiles)["signed_up"]
    assert identifies(store) == []  # nothing is sent from half the history

    restarted = Computer(store, [SIGNED_UP], owner="test", clock=clock, batch=3)
    _run(restarted, clock)
    assert sorted(e["userId"] for e in identifies(store)) == [f"u{n}" for n in range(8)]
    assert restarted.profiles.size()["profile_events"] == 8  # none read twice
    assert status([SIGNED_UP], restarted.profiles)[0]["state"] == "live"
