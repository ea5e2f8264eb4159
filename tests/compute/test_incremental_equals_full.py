"""Property: after any stream of events and clock advances, the values the computer holds for every user
equal a full evaluation of each definition over all of that user's events at the same instant, in both
stores. Several definitions share chains (evaluated once per profile and instant for all of them), and
most rounds leave most stored values as they were (rows not written again)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gleap_actions.compute import Computer
from gleap_actions.compute.evaluate import default, same
from gleap_actions.queue.profiles import ProfileStore
from gleap_actions.queue.store import Store

from .support import START, Clock, append, computation, iso

_EXAMPLES = itertools.count()

DEFINITIONS = [
    computation("Recent", "event('Buy').within(1 hours).count() >= 2"),
    computation(
        "Lapsed",
        "event('Buy').between(1 hours, 3 hours).count() >= 1"
        " AND NOT event('Buy').within(1 hours).count() >= 1",
    ),
    computation("Never", "NOT event('Buy').count() >= 1"),
    computation("Pro", "trait('plan') = 'pro' AND event('View').within(30 minutes).count() >= 1"),
    computation("Spend", "event('Buy').sum(property('amount'))", kind="computed_trait", key="spend"),
    computation(
        "Last View",
        "event('View').within(2 hours).last(property('page'))",
        kind="computed_trait",
        key="last_view",
    ),
    computation("Avg", "event('Buy').within(1 hours).avg(property('amount'))", kind="computed_trait"),
    computation("Max", "event('Buy').within(1 hours).max(property('amount'))", kind="computed_trait"),
    computation("Min", "event('Buy').min(property('amount') as string)", kind="computed_trait"),
    computation("First", "event('Buy').within(1 hours).first(property('amount'))", kind="computed_trait"),
    computation("Pages", "event('View').unique(property('page')).count()", kind="computed_trait"),
    computation("Mode", "event('View').within(2 hours).mode(property('page'), 2)", kind="computed_trait"),
    computation("Big", "event('Buy').within(1 hours).where(property('amount') = 5).count() >= 1"),
    computation(
        "On Plan", "event('Buy').within(1 hours).where(property('amount') = trait('plan')).count() >= 1"
    ),
]
USERS = ("u1", "u2", "u3")

step = st.one_of(
    st.tuples(st.just("advance"), st.integers(1, 5400)),
    st.tuples(
        st.just("event"),
        st.sampled_from(USERS),
        st.sampled_from(["Buy", "View", "Other", "identify"]),
        st.booleans(),  # anonymous only (joined to the user by a later identify)
        st.integers(0, 7200),  # how late the event arrives (seconds before now)
        st.sampled_from(["pro", "free", "home", "pricing", 3, 5]),
    ),
)


def _event(user: str, name: str, anonymous: bool, value: Any) -> dict[str, Any]:
    ids: dict[str, Any] = (
        {"anonymousId": f"anon-{user}"} if anonymous else {"userId": user, "anonymousId": f"anon-{user}"}
    )
    if name == "identify":
        return {"type": "identify", "userId": user, "anonymousId": f"anon-{user}", "traits": {"plan": value}}
    prop = {"amount": value} if name == "Buy" else {"page": value}
    return {"type": "track", "event": name, "properties": prop, **ids}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=30))
def test_incremental_state_equals_full_recomputation(store: Store, steps: list[Any]) -> None:
    # One store per backend for all examples: each example has users of its own and a computer of its own
    # (the clock starts again, later than any earlier example's events).
    run = uuid.uuid4().hex[:8]
    clock = Clock(START + 10**6 * next(_EXAMPLES))
    computer = Computer(store, DEFINITIONS, owner="test", clock=clock)
    computer.step()
    history: dict[str, list[dict[str, Any]]] = {f"{user}-{run}": [] for user in USERS}
    for item in steps:
        if item[0] == "advance":
            clock.now += item[1]
        else:
            _, user, name, anonymous, late, value = item
            user = f"{user}-{run}"
            event = {
                **_event(user, name, anonymous, value),
                "timestamp": iso(clock.now - (0 if name == "identify" else late)),
            }
            append(store, event, at=clock.now)
            history[user].append(event)
        if computer.profiles.settle:  # PostgreSQL reads an event once it has been stored that long
            clock.now += computer.profiles.settle + 0.001
        while computer.step():
            pass
        _check(computer.profiles, history, clock.now, run)  # as the computer holds them
        _check(store.profiles, history, clock.now, run)  # as stored (a reader without a cache)


def _check(profiles: ProfileStore, history: dict[str, list[dict[str, Any]]], now: float, run: str) -> None:
    instant = datetime.fromtimestamp(now, UTC)
    rows = profiles.run(
        lambda tx: tx.tx.fetch("SELECT id, user_id FROM profiles WHERE user_id LIKE %s", (f"%-{run}",))
    )
    loaded = {user_id: profiles.run(lambda tx, p=p: tx.load(p)) for p, user_id in rows}
    for user, events in history.items():
        stored = loaded.get(user)
        identified = any("userId" in e for e in events)
        for c in DEFINITIONS:
            expected = c.definition.evaluate(events, instant) if identified else default(c.kind)
            actual = stored.values.get(c.key, default(c.kind)) if stored is not None else default(c.kind)
            assert same(actual, expected), (user, c.key, actual, expected, now)
