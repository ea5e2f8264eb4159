"""The computer over a real store (SQLite and PostgreSQL): events in, Engage identify calls out."""

from __future__ import annotations

from gleap_actions.compute import Computer
from gleap_actions.queue.profiles import TOUCHED
from gleap_actions.queue.store import Store

from .support import Clock, append, computation, identifies

BUYERS = computation("Recent Buyers", "event('Order Completed').within(1 hours).count() >= 1")
REVENUE = computation(
    "Revenue", "event('Order Completed').sum(property('total'))", kind="computed_trait", key="revenue"
)


def _computer(store: Store, clock: Clock, *computations: object, **options: object) -> Computer:
    return Computer(store, computations, owner="test", clock=clock, **options)  # type: ignore[arg-type]


def _run(computer: Computer, clock: Clock) -> None:
    """Rounds until there is nothing left to do (PostgreSQL reads events a settle delay after storing)."""
    clock.now += computer.profiles.settle + 0.001
    while computer.step():
        pass


def test_an_order_enters_the_audience_and_its_window_expiry_exits(store: Store) -> None:
    clock = Clock()
    computer = _computer(store, clock, BUYERS, REVENUE)
    computer.step()  # the cursor starts at the events stored so far
    append(store, {"type": "identify", "userId": "u1", "traits": {"email": "u1@example.com"}}, at=clock.now)
    append(
        store,
        {"type": "track", "event": "Order Completed", "userId": "u1", "properties": {"total": 30}},
        at=clock.now,
    )
    _run(computer, clock)
    sent = identifies(store)
    by_key = {next(iter(k for k in e["traits"] if k != "email")): e for e in sent}
    entered = by_key["recent_buyers"]
    assert entered["userId"] == "u1" and entered["traits"] == {
        "recent_buyers": True,
        "email": "u1@example.com",
    }
    personas = entered["context"]["personas"]
    assert personas["computation_class"] == "audience" and personas["computation_key"] == "recent_buyers"
    assert personas["computation_id"].startswith("aud_")
    assert by_key["revenue"]["traits"]["revenue"] == 30
    assert by_key["revenue"]["context"]["personas"]["computation_class"] == "trait"

    clock.now += 1800  # still in the window: nothing changes, nothing is sent
    _run(computer, clock)
    assert identifies(store) == []
    clock.now += 1801
    _run(computer, clock)
    exited = identifies(store)
    assert [e["traits"] for e in exited] == [{"recent_buyers": False, "email": "u1@example.com"}]
    assert computer.profiles.members() == {"revenue": 1}


def test_events_stored_between_start_and_the_first_round_are_read(store: Store) -> None:
    # The service opens the cursor before ingest starts; a first round that runs late (a loaded machine)
    # must still see what was accepted meanwhile, not start after it.
    clock = Clock()
    computer = _computer(store, clock, BUYERS)
    computer.profiles.open_cursor()
    append(store, {"type": "track", "event": "Order Completed", "userId": "early"}, at=clock.now)
    _run(computer, clock)
    assert [(e["userId"], e["traits"]) for e in identifies(store)] == [("early", {"recent_buyers": True})]


def test_anonymous_events_join_the_user_and_anonymous_profiles_are_never_sent(store: Store) -> None:
    clock = Clock()
    computer = _computer(store, clock, BUYERS)
    computer.step()
    append(store, {"type": "track", "event": "Order Completed", "anonymousId": "a1"}, at=clock.now)
    _run(computer, clock)
    assert identifies(store) == []  # no userId: Gleap cannot take it
    append(store, {"type": "identify", "userId": "u9", "anonymousId": "a1"}, at=clock.now)
    _run(computer, clock)
    sent = identifies(store)
    assert [(e["userId"], e["anonymousId"], e["traits"]) for e in sent] == [
        ("u9", "a1", {"recent_buyers": True})
    ]


def test_events_not_referenced_are_not_kept_and_old_ones_are_pruned(store: Store) -> None:
    clock = Clock()
    computer = _computer(store, clock, BUYERS)
    computer.step()
    append(store, {"type": "track", "event": "Page Seen", "userId": "u1"}, at=clock.now)
    append(store, {"type": "track", "event": "Order Completed", "userId": "u1"}, at=clock.now)
    _run(computer, clock)
    assert computer.profiles.size()["profile_events"] == 1
    clock.now += 7200
    _run(computer, clock)
    assert computer.profiles.size()["profile_events"] == 0


def test_initial_sync_of_a_new_definition_sends_current_members_then_only_changes(store: Store) -> None:
    clock = Clock()
    computer = _computer(store, clock, BUYERS)
    computer.step()
    for user in ("u1", "u2", "u3"):
        append(store, {"type": "track", "event": "Order Completed", "userId": user}, at=clock.now)
    _run(computer, clock)
    identifies(store)
    # A restart with a second definition over the same events: its members are sent once.
    again = computation("Any Buyer", "event('Order Completed').count() >= 1")
    computer = _computer(store, clock, BUYERS, again, batch=2)
    _run(computer, clock)
    sent = identifies(store)
    assert sorted(e["userId"] for e in sent if "any_buyer" in e["traits"]) == ["u1", "u2", "u3"]
    assert all("recent_buyers" not in e["traits"] for e in sent)
    assert computer.profiles.computations()["any_buyer"].state == "live"


def test_a_removed_definition_is_unset_when_configured_so(store: Store) -> None:
    clock = Clock()
    computer = _computer(store, clock, BUYERS, REVENUE)  # REVENUE keeps the orders while BUYERS is off
    computer.step()
    append(store, {"type": "track", "event": "Order Completed", "userId": "u1"}, at=clock.now)
    _run(computer, clock)
    identifies(store)
    kept = _computer(store, clock, REVENUE, on_removal="keep")
    _run(kept, clock)
    assert identifies(store) == []
    assert kept.profiles.computations()["recent_buyers"].state == "removed"

    computer = _computer(store, clock, BUYERS, REVENUE)  # enabled again: synced again
    _run(computer, clock)
    assert [e["traits"] for e in identifies(store)] == [{"recent_buyers": True}]
    unset = _computer(store, clock, REVENUE, on_removal="unset")
    _run(unset, clock)
    assert [e["traits"] for e in identifies(store)] == [{"recent_buyers": False}]


def test_deleting_a_user_erases_their_profile(store: Store) -> None:
    clock = Clock()
    computer = _computer(store, clock, BUYERS)
    computer.step()
    append(
        store,
        {"type": "track", "event": "Order Completed", "userId": "u1", "anonymousId": "a1"},
        at=clock.now,
    )
    _run(computer, clock)
    assert computer.profiles.size()["profiles"] == 1
    store.drop_user("u1")
    assert computer.profiles.size() == {"profiles": 0, "profile_events": 0, "profile_values": 0}


def test_a_touched_profile_whose_keys_were_lost_with_the_process_has_every_key_evaluated(
    store: Store,
) -> None:
    clock = Clock()
    first = _computer(store, clock, BUYERS, REVENUE)
    first.step()
    order = {"type": "track", "event": "Order Completed", "userId": "u1", "properties": {"total": 30}}
    append(store, order, at=clock.now)
    _run(first, clock)
    assert {k for e in identifies(store) for k in e["traits"]} == {"recent_buyers", "revenue"}
    # As if the process stopped after storing an event's mark and before evaluating it: the mark is in
    # the store, which keys it was for is not (the values are gone too, so that evaluating shows).
    profile = store.profiles.run(lambda tx: tx.resolve("u1", [])[0])
    store.profiles.run(
        lambda tx: tx.tx.execute("DELETE FROM profile_values WHERE profile_id = %s", (profile,))
    )
    store.profiles.run(lambda tx: tx.mark_due(profile, [TOUCHED]))
    _run(_computer(store, clock, BUYERS, REVENUE), clock)
    assert {k for e in identifies(store) for k in e["traits"]} == {"recent_buyers", "revenue"}
    rows = store.profiles.run(lambda tx: tx.tx.fetch("SELECT key FROM profile_values ORDER BY key"))
    assert [r[0] for r in rows] == ["recent_buyers", "revenue"]  # the mark is gone
