"""The rate budget against the sandbox over real HTTP: one bucket per Gleap endpoint, adapting to 429s, fair
between mappings, audience identifies first when configured; batches shrinking on 413 and growing back.

Rates are small (a few requests a second) and the counts per window have generous bounds that still fail
when the buckets are shared, unfair or never adapt.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from pipeline_support import fast, metric

from gleap_actions import events
from gleap_actions.compute.identify import engage_identify
from gleap_actions.deliver.pipeline import Pipeline
from gleap_actions.deliver.ratelimit import RateLimiter
from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent
from gleap_actions.sandbox import SandboxThread
from gleap_actions.sandbox.state import RecordedRequest

IDENTIFY = Subscription.compile("Identify", ACTIONS["identifyContact"])
TRACK = Subscription.compile("Track", ACTIONS["trackEvent"], 'type = "track"')


def new_event(raw: dict[str, Any]) -> NewEvent:
    event = events.normalize(raw, raw["type"], received_at=time.time())
    return NewEvent(
        "src", event["messageId"], event.get("userId"), raw["type"], time.time(), orjson.dumps(event)
    )


def identify(user: str) -> NewEvent:
    return new_event({"type": "identify", "userId": user, "traits": {"plan": "p1"}})


def audience(user: str) -> NewEvent:
    raw = engage_identify(
        user_id=user,
        anonymous_id=None,
        kind="audience",
        key="vip",
        computation_id="c1",
        value=True,
        email=None,
        now=time.time(),
    )
    return NewEvent("audiences", raw["messageId"], user, "identify", time.time(), orjson.dumps(raw))


def track(name: str, padding: int = 0) -> NewEvent:
    properties = {"pad": "x" * padding} if padding else {}
    return new_event({"type": "track", "event": name, "userId": "u1", "properties": properties})


def settings(sandbox: SandboxThread, sandbox_token: str) -> GleapSettings:
    return GleapSettings(sandbox_token, sandbox.url, timeout=5.0)


def ok(sandbox: SandboxThread, endpoint: str) -> list[RecordedRequest]:
    return [r for r in sandbox.state.requests(endpoint=endpoint) if r.status == 200]


def in_window(requests: Sequence[RecordedRequest], start: float, seconds: float) -> int:
    return sum(start <= r.time < start + seconds for r in requests)


async def wait_until(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_a_busy_track_stream_leaves_identify_its_whole_budget(
    store: SQLiteStore, sandbox: SandboxThread, sandbox_token: str
) -> None:
    per_second, window = 4, 8.0  # 240 requests a minute for identify and, apart, for track
    store.append([identify(f"u{i}") for i in range(150)] + [track(f"e{i}") for i in range(150)])
    p = Pipeline(
        store, [IDENTIFY, TRACK], settings(sandbox, sandbox_token), fast(requests_per_minute=60 * per_second)
    )
    await p.start()
    try:
        start = time.time() + 1.5  # past the first burst
        await wait_until(lambda: time.time() > start + window + 0.5)
        counts = {e: in_window(ok(sandbox, e), start, window) for e in ("identify", "track")}
    finally:
        await p.stop()
    full = per_second * window
    # Each endpoint is sent at its own full rate; one bucket for both would give each about half.
    assert all(0.7 * full <= n <= full + 6 for n in counts.values()), counts


async def test_a_429_slows_the_bucket_down_and_it_climbs_back_to_the_configured_rate(
    store: SQLiteStore, sandbox: SandboxThread, sandbox_token: str
) -> None:
    sandbox.set_faults(rate_limit_window=1.0, endpoint_rate_limits={"identify": 5})  # Gleap allows 5/s
    limiter = RateLimiter(1200, recovery=4.0)  # we start at 20/s
    p = Pipeline(
        store,
        [IDENTIFY],
        settings(sandbox, sandbox_token),
        fast(max_concurrency=4),
        rate={"identify": limiter},
    )
    lowest = [limiter.requests_per_minute]

    async def watch() -> None:
        while True:
            lowest[0] = min(lowest[0], limiter.requests_per_minute)
            await asyncio.sleep(0.02)

    store.append([identify(f"u{i}") for i in range(60)])
    watching = asyncio.create_task(watch())
    await p.start()
    try:
        await p.drain(120)
        assert len(ok(sandbox, "identify")) == 60 and store.list_dead_letters() == []
        assert any(r.status == 429 for r in sandbox.state.requests(endpoint="identify"))
        assert lowest[0] <= 600  # halved at least once
        assert metric(p, "gleap_actions_rate_limit_requests_per_minute", endpoint="identify") < 1200

        # Gleap takes more again: the bucket is back at the configured rate, above what was allowed.
        sandbox.set_faults(endpoint_rate_limits={})
        await wait_until(lambda: limiter.requests_per_minute == 1200, timeout=30)
        store.append([identify(f"v{i}") for i in range(120)])
        p.notify()
        start = time.time() + 1.5
        await wait_until(lambda: time.time() > start + 3.5)
        assert in_window(ok(sandbox, "identify"), start, 3.0) >= 30  # 60 at 20/s; 15 at the old 5/s
        await p.drain(60)
    finally:
        watching.cancel()
        await p.stop()


async def test_a_mapping_with_a_backlog_does_not_starve_another_on_the_same_bucket(
    store: SQLiteStore, sandbox: SandboxThread, sandbox_token: str
) -> None:
    # "Bulk" batches, but its small byte limit plans about one event per request: every claim of it
    # queues hundreds of requests at the track bucket at once.
    bulk = Subscription.compile(
        "Bulk", ACTIONS["trackEvent"], 'event = "bulk"', batching=True, batch_bytes=1024
    )
    live = Subscription.compile("Live", ACTIONS["trackEvent"], 'event = "live"')
    p = Pipeline(store, [bulk, live], settings(sandbox, sandbox_token), fast(requests_per_minute=240))
    store.append(
        [
            new_event({"type": "track", "event": "bulk", "userId": f"u{i}", "properties": {"pad": "x" * 700}})
            for i in range(300)
        ]
    )
    await p.start()
    try:
        await wait_until(lambda: len(ok(sandbox, "track")) >= 4)
        store.append([new_event({"type": "track", "event": "live", "userId": f"l{i}"}) for i in range(10)])
        p.notify()
        before = len(ok(sandbox, "track"))

        def lives() -> int:
            return sum(1 for e in sandbox.state.events() if e["name"] == "live")

        await wait_until(lambda: lives() == 10)
        bulk_sent = len(ok(sandbox, "track")) - before - 10
    finally:
        await p.stop()
    # Served in turn: about one Bulk request per Live one. Without turns, Live waits behind Bulk's queue.
    assert bulk_sent <= 2 * 10 + 6, bulk_sent


async def test_audience_identifies_go_first_when_given_priority(
    store: SQLiteStore, sandbox: SandboxThread, sandbox_token: str
) -> None:
    audiences = Subscription.compile(
        "Audiences", ACTIONS["identifyContact"], 'type = "identify" and context.personas != null'
    )
    others = Subscription.compile(
        "Identify", ACTIONS["identifyContact"], 'type = "identify" and context.personas = null'
    )
    delivery = fast(requests_per_minute=240, audience_priority=True)
    p = Pipeline(store, [others, audiences], settings(sandbox, sandbox_token), delivery)
    store.append([identify(f"u{i}") for i in range(100)])
    await p.start()
    try:
        await wait_until(lambda: len(ok(sandbox, "identify")) >= 4)
        store.append([audience(f"a{i}") for i in range(20)])
        p.notify()
        before = len(ok(sandbox, "identify"))

        def audience_sent() -> list[RecordedRequest]:
            return [r for r in ok(sandbox, "identify") if r.json_body()["userId"].startswith("a")]

        await wait_until(lambda: len(audience_sent()) == 20)
        last = max(r.seq for r in audience_sent())
        others_sent = sum(
            1 for r in ok(sandbox, "identify")[before:] if r.seq < last and r.json_body()["userId"][0] == "u"
        )
    finally:
        await p.stop()
    # First: only requests already granted go before. Served in turn instead, about 20 would.
    assert others_sent <= 10, others_sent


async def test_a_413_shrinks_the_batch_and_it_grows_back_once_gleap_takes_more(
    store: SQLiteStore, sandbox: SandboxThread, sandbox_token: str
) -> None:
    sandbox.set_faults(max_batch=10)
    batching = Subscription.compile("Track", ACTIONS["trackEvent"], 'type = "track"', batching=True)
    p = Pipeline(store, [batching], settings(sandbox, sandbox_token), fast())

    def learned() -> float:
        return metric(p, "gleap_actions_batch_events_limit", mapping="Track")

    await p.start()
    try:
        store.append([track(f"a{i}") for i in range(300)])
        p.notify()
        await p.drain(60)
        assert 5 <= learned() <= 10  # at most what Gleap takes, close to it
        after_first = sandbox.state.request_count()
        store.append([track(f"b{i}") for i in range(100)])
        p.notify()
        await p.drain(60)
        later = [r for r in sandbox.state.requests() if r.seq > after_first]
        # Planned small enough at once (no 413), near the most Gleap takes.
        assert all(r.status == 200 and len(r.json_body()["events"]) <= 10 for r in later)
        assert len(later) <= 13

        sandbox.set_faults(max_batch=None)
        for round_ in range(20):
            if learned() == 100:
                break
            store.append([track(f"c{round_}-{i}") for i in range(2000)])
            p.notify()
            await p.drain(120)
        assert learned() == 100  # back to the configured batch size
        mark = sandbox.state.request_count()
        store.append([track(f"d{i}") for i in range(300)])
        p.notify()
        await p.drain(60)
        latest = [r for r in sandbox.state.requests() if r.seq > mark]
        assert [len(r.json_body()["events"]) for r in latest] == [100] * 3
        assert store.list_dead_letters() == []
    finally:
        await p.stop()
