"""A reload applied to a running pipeline, ingest's commits, work given back unsent, and discarding the
deliveries no mapping delivers: a real SQLite file, the real client and the sandbox.

`Pipeline.reconfigure` keeps the lane of a destination that delivers as before (only its Gleap settings
other than the token changed), replaces a changed one, stops a removed one and starts a new one; the
deliveries a removed destination leaves waiting are kept and reported until discarded on purpose
(`deliver/discard.py`, as `dlq discard` does). These run in process so that the mutation run of
`deliver/` (which runs only `tests/deliver`) reaches that code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from pipeline_support import fast, metric

from gleap_actions import events
from gleap_actions.config import DeliveryConfig
from gleap_actions.config.topology import DEFAULT, DestinationConfig, SourceConfig
from gleap_actions.deliver import discard
from gleap_actions.deliver.pipeline import Pipeline, Tuning
from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from gleap_actions.ingest.tracking import source_id
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import DeadLetterFilter, NewEvent, Route
from gleap_actions.sandbox import SandboxThread

TOKEN = "sandbox-secret-19"
TRACK = "Track Event"
NOWHERE = "http://127.0.0.1:9"  # never contacted: the pipelines built on it are not started


@pytest.fixture
def sandbox_token() -> str:
    return TOKEN


def track_mapping(name: str = TRACK, **changes: Any) -> Subscription:
    options: dict[str, Any] = {"trigger": 'type = "track"', "batching": True, "batch_size": 100}
    return Subscription.compile(name, ACTIONS["trackEvent"], **{**options, **changes})


def destination(
    name: str,
    url: str,
    *,
    token: str = TOKEN,
    timeout: float = 2.0,
    mappings: tuple[Subscription, ...] | None = None,
    delivery: DeliveryConfig | None = None,
) -> DestinationConfig:
    return DestinationConfig(
        name,
        GleapSettings(token, url, timeout=timeout),
        (track_mapping(),) if mappings is None else mappings,
        fast() if delivery is None else delivery,
    )


def fed(*names: str) -> tuple[SourceConfig, ...]:
    """One source (any write key) feeding the destinations `names`."""
    return (SourceConfig(DEFAULT, (), names),)


def track(name: str, user: str = "u1", route: Route | None = None, key: str = "wk-web") -> NewEvent:
    """A track event `name` that came with the write key `key`."""
    now = time.time()
    raw = {"type": "track", "event": name, "userId": user, "messageId": name}
    event = events.normalize(raw, "track", received_at=now)
    return NewEvent.from_event(event, source=source_id(key), received_at=now, route=route)


def identify(user: str, step: int) -> NewEvent:
    now = time.time()
    raw = {"type": "identify", "userId": user, "messageId": f"{user}-{step}", "traits": {"step": step}}
    event = events.normalize(raw, "identify", received_at=now)
    return NewEvent.from_event(event, source="src", received_at=now, route=Route(("Identify",)))


async def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds (the pipelines here poll the store
    every 30 s at most, so only a wake-up makes anything happen sooner; 20 s leaves room for a loaded
    machine, and for mutmut's tracing run)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


def delivered_names(sandbox: SandboxThread) -> list[str]:
    return sorted(e["name"] for e in sandbox.state.events())


async def test_a_reload_keeps_unchanged_lanes_replaces_changed_ones_and_reports_what_removed_ones_left(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    url = sandbox.url
    before = (
        destination("keep", url),
        destination("change", url),
        destination("gone", url, token="revoked"),  # refused: its deliveries wait
    )
    web = SourceConfig("web", ("wk-web",), ("keep", "change", "gone"))
    app = SourceConfig("app", ("wk-app",), ("change",))
    # The store is polled every 30 s: only wake-ups (a notify, a reload) make anything happen sooner.
    tuning = Tuning(poll_interval=30.0)
    p = Pipeline(store, (), before[0].gleap, fast(), destinations=before, sources=(web, app), tuning=tuning)
    await p.start()
    try:
        store.append([track("a"), track("b")])
        p.notify()
        await until(
            lambda: p.outcomes.delivered == {"keep/Track Event": 2, "change/Track Event": 2},
            "keep and change never delivered",
        )
        await until(lambda: p.lanes["gone"].gate.paused, "gone was never refused")
        kept, changed, removed = p.lanes["keep"], p.lanes["change"], p.lanes["gone"]
        kept_tasks = list(kept.tasks)
        # Stored, not yet routed, when the reload comes (an ingest-only node stored them).
        store.append([track("c"), track("d", key="wk-app")])

        after = (
            destination("keep", url, timeout=3.0, mappings=(track_mapping(),)),  # recompiled, the same
            destination("change", url, delivery=fast(max_concurrency=2)),
            destination("added", url),
        )
        # `app` is removed with `gone`: its write key's events still go where it fed, never nowhere.
        web = SourceConfig("web", ("wk-web",), ("keep", "change", "added"))
        unconfigured = await p.reconfigure(after, (web,))

        assert unconfigured == {"gone/Track Event": 2}
        assert list(p.lanes) == ["keep", "change", "added"]
        # Unchanged delivery: the same lane and loops, the new settings in place.
        assert p.lanes["keep"] is kept and kept.tasks == kept_tasks
        assert not any(task.done() for task in kept.tasks)
        assert kept.config is after[0]
        assert kept.destination is not None and kept.destination.settings.timeout == 3.0
        # Changed delivery: the old lane stopped, a new one runs with the new settings.
        assert p.lanes["change"] is not changed and all(task.done() for task in changed.tasks)
        assert p.lanes["change"].concurrency.max_limit == 2
        assert p.lanes["change"].tasks and not any(task.done() for task in p.lanes["change"].tasks)
        # Removed: stopped; added: started.
        assert all(task.done() for task in removed.tasks)
        assert p.lanes["added"].tasks and not any(task.done() for task in p.lanes["added"].tasks)

        # The reload wakes the router: what was waiting is routed at once, as configured now.
        await until(
            lambda: (
                p.outcomes.delivered
                == {"keep/Track Event": 3, "change/Track Event": 4, "added/Track Event": 1}
            ),
            f"not delivered by the lanes of the reload: {p.outcomes.delivered}",
        )
        assert delivered_names(sandbox) == ["a", "a", "b", "b", "c", "c", "c", "d"]
        assert await p.unconfigured() == {"gone/Track Event": 2}

        with pytest.raises(ValueError, match="configured mapping"):
            await p.discard("keep/Track Event")
        assert await p.discard("gone/Track Event") == 2
        assert await p.unconfigured() == {}
        letters = store.list_dead_letters(DeadLetterFilter(mapping="gone/Track Event"))
        assert [(d.reason, d.status, orjson.loads(d.payload)["event"]) for d in letters] == [
            ("unconfigured", None, "a"),
            ("unconfigured", None, "b"),
        ]
        await p.drain(5)
    finally:
        await p.stop()
    assert store.stats(time.time()).dead_letters == 2


async def test_a_replaced_lane_lets_its_request_in_flight_finish_first(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    sandbox.set_faults(latency=0.2)
    configured = destination("d", sandbox.url)
    p = Pipeline(store, (), configured.gleap, fast(), destinations=(configured,), sources=fed("d"))
    await p.start()
    try:
        store.append([track("a")])
        p.notify()
        old = p.lanes["d"]
        await until(lambda: old.concurrency.in_flight == 1, "the request was never sent")
        await p.reconfigure((destination("d", sandbox.url, delivery=fast(linger=0.1)),), fed("d"))
        # The reload returned once the old lane's request was answered and recorded: nothing is left
        # for the new lane to send again.
        assert p.lanes["d"] is not old
        assert p.outcomes.delivered == {"d/Track Event": 1}
        assert store.stats(time.time()).pending == 0
    finally:
        await p.stop()
    assert delivered_names(sandbox) == ["a"]


@pytest.mark.parametrize(
    ("latency", "delivered"),
    [
        # Answered within a quarter of the 8 s lease (2 s): the old lane records it.
        (1.8, {"d/Track Event": 1}),
        # Not answered in 2 s: cancelled and given back, for the new lane to send.
        (3.0, {}),
    ],
)
async def test_a_replaced_lanes_requests_in_flight_get_a_quarter_of_the_lease(
    store: SQLiteStore, sandbox: SandboxThread, latency: float, delivered: dict[str, int]
) -> None:
    """A reload that replaces a lane lets its request in flight finish for a quarter of the lease."""
    sandbox.set_faults(latency=latency)
    configured = destination("d", sandbox.url, timeout=5.0)
    p = Pipeline(
        store,
        (),
        configured.gleap,
        fast(),
        destinations=(configured,),
        sources=fed("d"),
        tuning=Tuning(lease=8.0),
    )
    await p.start()
    try:
        store.append([track("a")])
        p.notify()
        old = p.lanes["d"]
        await until(lambda: old.concurrency.in_flight == 1, "the request was never sent")
        await p.reconfigure(
            (destination("d", sandbox.url, timeout=5.0, delivery=fast(linger=0.1)),), fed("d")
        )
        assert p.outcomes.delivered == delivered
    finally:
        await p.stop(timeout=0.0)


def samples(p: Pipeline, name: str) -> dict[tuple[str, ...], float]:
    """The samples of the pipeline's metric `name`, by their label values."""
    return {
        tuple(sample.labels.values()): sample.value
        for family in p.metrics.registry.collect()
        for sample in family.samples
        if sample.name == name
    }


async def test_a_named_destinations_metrics_carry_its_name_and_its_endpoint_rate(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    """Every metric of destination "d" is labelled "d" (and its mapping's by the mapping's name, not by the
    delivery key "d/Track Event", which names its delivery loop's task); the concurrency limit is set when
    its lane starts (at 1), and the track endpoint's bucket runs at the rate configured for track, not the
    destination's."""
    configured = destination("d", sandbox.url, delivery=fast(track_requests_per_minute=6000))
    p = Pipeline(store, (), configured.gleap, fast(), destinations=(configured,), sources=fed("d"))
    await p.start()
    try:
        started = samples(p, "gleap_actions_concurrency_limit")
        loops = [task.get_name() for task in p.lanes["d"].tasks]
        store.append([track("a")])
        p.notify()
        await until(lambda: p.outcomes.delivered == {"d/Track Event": 1}, "the event was not delivered")
    finally:
        await p.stop()
    assert delivered_names(sandbox) == ["a"]
    assert loops == ["delivery:d/Track Event"]  # named for a task dump (asyncio debugging tools)
    assert started == {("d",): 1.0}  # the adaptive limit starts at one request
    assert samples(p, "gleap_actions_requests_total") == {("d", TRACK, "ok"): 1.0}
    assert samples(p, "gleap_actions_delivered_total") == {("d", TRACK): 1.0}
    assert samples(p, "gleap_actions_batch_events_limit") == {("d", TRACK): 100.0}
    assert samples(p, "gleap_actions_rate_limit_requests_per_minute") == {
        ("d", "identify"): 0.0,
        ("d", "track"): 6000.0,
    }


PAGE = 'type = "page"'


def _configured() -> DestinationConfig:
    """The destination of `test_what_counts_as_the_same_delivery` before the reload: two mappings."""
    return destination("d", NOWHERE, mappings=(track_mapping(), track_mapping("Page", trigger=PAGE)))


def _reloaded(change: str) -> DestinationConfig:
    """`_configured()` after a reload that changes `change` (of its first mapping, for a mapping's)."""
    base = _configured()
    page = track_mapping("Page", trigger=PAGE)
    first: dict[str, Subscription] = {
        "mapping renamed": track_mapping("Renamed"),
        "mapping disabled": track_mapping(enabled=False),
        "trigger": track_mapping(trigger='type = "track" and event = "a"'),
        "mapping": track_mapping(
            mapping={**ACTIONS["trackEvent"].default_mapping, "eventName": {"@path": "$.name"}}
        ),
        "batching": track_mapping(batching=False),
        "batch size": track_mapping(batch_size=50),
        "batch bytes": track_mapping(batch_bytes=1000),
        "nothing (recompiled)": track_mapping(),
    }
    if change in first:
        return dataclasses.replace(base, subscriptions=(first[change], page))
    if change == "mapping added":
        return dataclasses.replace(base, subscriptions=(*base.subscriptions, track_mapping("Other")))
    if change == "mapping removed":
        return dataclasses.replace(base, subscriptions=base.subscriptions[:1])
    if change == "mappings reordered":
        return dataclasses.replace(base, subscriptions=base.subscriptions[::-1])
    settings = {
        "timeout": GleapSettings(TOKEN, NOWHERE, timeout=9.0),
        "base URL": GleapSettings(TOKEN, "http://127.0.0.2:9"),
        "token": GleapSettings("another-project", NOWHERE, timeout=2.0),
    }
    if change in settings:
        return dataclasses.replace(base, gleap=settings[change])
    assert change == "delivery"
    return dataclasses.replace(base, delivery=fast(linger=0.5))


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ("nothing (recompiled)", True),
        ("timeout", True),
        ("base URL", True),
        ("token", False),  # maybe another Gleap project: another rate budget
        ("delivery", False),
        ("mapping added", False),
        ("mapping removed", False),
        ("mappings reordered", False),
        ("mapping renamed", False),
        ("mapping disabled", False),
        ("trigger", False),
        ("mapping", False),
        ("batching", False),
        ("batch size", False),
        ("batch bytes", False),
    ],
)
async def test_what_counts_as_the_same_delivery(store: SQLiteStore, change: str, same: bool) -> None:
    configured = _configured()
    p = Pipeline(store, (), configured.gleap, fast(), destinations=(configured,), sources=fed("d"))
    lane = p.lanes["d"]
    fresh = _reloaded(change)
    try:
        assert await p.reconfigure((fresh,), fed("d")) == {}
        assert (p.lanes["d"] is lane) is same
        assert p.lanes["d"].config is fresh
    finally:
        await p.stop()


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"coalesce": True}, {"coalesce": False}),
        ({"coalesce": False}, {"coalesce": True}),
        ({}, {"action": "trackEvent"}),
    ],
    ids=["coalescing turned off", "coalescing turned on", "action"],
)
async def test_a_reload_that_changes_the_action_or_coalescing_replaces_the_lane(
    store: SQLiteStore, before: dict[str, Any], after: dict[str, Any]
) -> None:
    """A lane runs its mappings' actions and merges one user's identifies when coalescing: a reload that
    changes either takes effect at once, as every other change of a mapping does."""

    def identify_mapping(action: str = "identifyContact", **options: Any) -> Subscription:
        # one mapping for both actions: only the action differs
        mapping = {"userId": {"@path": "$.userId"}}
        return Subscription.compile("Identify", ACTIONS[action], 'type = "identify"', mapping, **options)

    configured = destination("d", NOWHERE, mappings=(identify_mapping(**before),))
    p = Pipeline(store, (), configured.gleap, fast(), destinations=(configured,), sources=fed("d"))
    lane = p.lanes["d"]
    fresh = destination("d", NOWHERE, mappings=(identify_mapping(**{**before, **after}),))
    try:
        assert await p.reconfigure((fresh,), fed("d")) == {}
        assert p.lanes["d"] is not lane
        assert p.lanes["d"].config is fresh
    finally:
        await p.stop()


async def test_commits_count_routes_decided_at_ingest_and_wake_only_what_has_work(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    # An event another router holds (a short lease), claimable again by the time of the first commit:
    # only a wake-up of the router, not its 30 s poll, routes it within the test.
    store.append([track("held")])
    assert len(store.claim_unrouted("another-node", 10, 0.2)) == 1
    lease_ends = time.time() + 0.2
    p = Pipeline(
        store,
        [track_mapping()],
        GleapSettings(TOKEN, sandbox.url, timeout=2.0),
        fast(),
        tuning=Tuning(poll_interval=30.0),
    )
    await p.start()
    try:
        while time.time() <= lease_ends:  # a known instant, not an event: the other router's lease ends
            await asyncio.sleep(0.02)
        routed = Route((TRACK,))
        first = [track("r1", route=routed)]
        p.committed(first, store.append(first))
        second = [
            track("r1", route=routed),  # a duplicate: not stored, not counted
            track("r2", route=routed),
            track("off", route=Route((), "integrations")),
            track("unmatched", route=Route((), "no_matching_mapping")),
        ]
        accepted = store.append(second)
        assert accepted == [False, True, True, True]
        p.committed(second, accepted)
        # Deliveries routed at ingest wake delivery; the router is left asleep.
        await until(lambda: delivered_names(sandbox) == ["r1", "r2"], "the routed events were not sent")
        assert metric(p, "gleap_actions_routed_events_total") == 2
        assert metric(p, "gleap_actions_filtered_events_total", reason="integrations") == 1
        assert metric(p, "gleap_actions_filtered_events_total", reason="no_matching_mapping") == 1
        assert p.outcomes.filtered == {"integrations": 1, "no_matching_mapping": 1}
        assert store.stats(time.time()).unrouted == 1
        # An event stored without a route wakes the router, which routes it (and the held one).
        unrouted = [track("late")]
        p.committed(unrouted, store.append(unrouted))
        await until(
            lambda: delivered_names(sandbox) == ["held", "late", "r1", "r2"], "the router was not woken"
        )
    finally:
        await p.stop()
    assert metric(p, "gleap_actions_routed_events_total") == 4


async def test_work_behind_a_users_retried_request_is_given_back_unsent(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    # A rate limit leaves room for many requests, so the user's three identifies are claimed together
    # (three requests, one chain); the first is answered 503 and waits 10 s for its retry.
    sandbox.set_faults(user_errors={"slow": 503})
    store.append([identify("slow", step) for step in range(3)])
    subscription = Subscription.compile("Identify", ACTIONS["identifyContact"], coalesce=False)
    config = fast(requests_per_minute=6000, initial_backoff=10.0, max_backoff=10.0)
    p = Pipeline(store, [subscription], GleapSettings(TOKEN, sandbox.url, timeout=2.0), config)
    await p.start()
    try:
        # The two later requests go back to the queue unsent, no attempt counted: nothing is left in
        # flight (their lease would hold them for two minutes).
        await until(
            lambda: (stats := store.stats(time.time())).retrying == 1 and stats.in_flight == 0,
            f"not given back: {store.stats(time.time())}",
        )
        stats = store.stats(time.time())
        assert (stats.pending, stats.retrying, stats.dead_letters) == (3, 1, 0)
        steps = [r.json_body()["step"] for r in sandbox.state.requests(endpoint="identify")]
        assert steps == [0]
    finally:
        await p.stop()


def routed_to(store: SQLiteStore, keys: tuple[str, ...], *names: str) -> None:
    """Events `names`, of distinct users, each routed to `keys`."""
    store.append([track(name, user=name, route=Route(keys)) for name in names])


def test_discard_moves_every_waiting_delivery_of_the_key_in_steps_of_limit(store: SQLiteStore) -> None:
    routed_to(store, ("gone/Track", "eu/Track"), "a", "b", "c", "d", "e")
    now = time.time()
    # Besides those due now: one scheduled for a retry in an hour, one held by another node's lease;
    # both are taken too (the claim looks a billion seconds ahead).
    [later] = store.claim_deliveries("node-a", "gone/Track", 1, 30, now)
    store.retry([later.id], at=now + 3600, error="HTTP 503", now=now)
    assert len(store.claim_deliveries("node-b", "gone/Track", 1, 30, now)) == 1
    assert discard.unconfigured(store, frozenset({"eu/Track"})) == {"gone/Track": 5}
    assert discard.discard(store, "gone/Track", owner="admin", lease=30, limit=2) == 5
    letters = store.list_dead_letters(DeadLetterFilter(mapping="gone/Track"))
    assert {(d.reason, d.status, d.request, d.response) for d in letters} == {
        ("unconfigured", None, "", "discarded: no configured destination or mapping delivers it")
    }
    # A dead letter counts the attempt that ended it (here the discard): the retried one's shows two.
    assert {d.event_id: d.attempts for d in letters} == {
        i: 2 if i == later.event_id else 1 for i in range(1, 6)
    }
    # Another key's deliveries stay, and nothing is left of the discarded one.
    assert store.due_mappings(time.time()) == {"eu/Track": 5}
    assert discard.discard(store, "gone/Track", owner="admin") == 0
    assert discard.unconfigured(store, frozenset()) == {"eu/Track": 5}


def test_unconfigured_lists_keys_no_mapping_delivers_in_key_order(store: SQLiteStore) -> None:
    routed_to(store, ("b/Track", "a/Track", "eu/Track"), "x", "y")
    routed_to(store, ("c/Track",), "z")
    assert list(discard.unconfigured(store, frozenset({"eu/Track"})).items()) == [
        ("a/Track", 2),
        ("b/Track", 2),
        ("c/Track", 1),
    ]
    assert discard.unconfigured(store, frozenset({"a/Track", "b/Track", "c/Track", "eu/Track"})) == {}
