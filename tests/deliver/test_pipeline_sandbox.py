"""The pipeline end to end: a real SQLite file, the Gleap presets, the real client and the sandbox."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import orjson
import pytest
from pipeline_support import fast, metric

from gleap_actions import events
from gleap_actions.deliver.pipeline import Pipeline, Tuning
from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.presets import PRESETS
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, QueueStats
from gleap_actions.sandbox import SandboxThread

TOKEN = "sandbox-secret-42"


@pytest.fixture
def sandbox_token() -> str:
    return TOKEN


def subscriptions() -> list[Subscription]:
    subs = []
    for preset in PRESETS:
        batching = preset.get("batching") or {}
        subs.append(
            Subscription.compile(
                preset["name"],
                ACTIONS[preset["action"]],
                preset["trigger"],
                preset["mapping"],
                enabled=preset["enabled"],
                batching=bool(batching.get("enabled")),
                batch_size=batching.get("size", 100),
            )
        )
    return subs


def stored(raw: dict[str, Any]) -> NewEvent:
    now = time.time()
    event = events.normalize(raw, raw["type"], received_at=now)
    return NewEvent("src", event["messageId"], event.get("userId"), event["type"], now, orjson.dumps(event))


def track(name: str, user: str = "u1") -> NewEvent:
    return stored({"type": "track", "event": name, "userId": user})


def identify(user: str, **traits: Any) -> NewEvent:
    return stored({"type": "identify", "userId": user, "traits": traits})


def pipeline(store: SQLiteStore, sandbox: SandboxThread, token: str = TOKEN, **kw: Any) -> Pipeline:
    config = kw.pop("config", fast())
    settings = GleapSettings(token, sandbox.url, timeout=2.0)
    return Pipeline(store, subscriptions(), settings, config, tuning=Tuning(**kw))


def names(sandbox: SandboxThread) -> list[str]:
    return sorted(e["name"] for e in sandbox.state.events())


async def run_to_empty(p: Pipeline, timeout: float = 10.0) -> Pipeline:
    """Start `p`, wait until its queue is empty, stop it."""
    await p.start()
    try:
        await p.drain(timeout)
    finally:
        await p.stop()
    return p


def limited_log(sandbox: SandboxThread) -> list[Any]:
    """The identify requests the sandbox received, some of which it answered 429."""
    log = sandbox.state.requests(endpoint="identify")
    assert any(r.status == 429 for r in log), "the sandbox should have pushed back"
    return log


async def test_tracks_batched_identifies_sent_one_by_one(store: SQLiteStore, sandbox: SandboxThread) -> None:
    store.append([track(f"e{i:03}") for i in range(250)])
    store.append([identify(f"u{i}", email=f"u{i}@x.io") for i in range(5)])
    p = pipeline(store, sandbox)
    await p.start()
    try:
        await p.drain(10)
    finally:
        await p.stop()
    assert names(sandbox) == [f"e{i:03}" for i in range(250)]
    tracks = sandbox.state.requests(endpoint="track")
    assert sorted(len(r.json_body()["events"]) for r in tracks) == [50, 100, 100]
    assert sandbox.state.request_count(endpoint="identify") == 5
    assert sandbox.state.contact("u3") is not None
    assert metric(p, "gleap_actions_delivered_total", mapping="Track Event") == 250
    assert metric(p, "gleap_actions_delivered_total", mapping="Identify Contact") == 5


async def test_sandbox_rate_limit_429_retry_after_is_honoured(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    sandbox.set_faults(rate_limit=2, rate_limit_window=1.0)
    store.append([identify(f"u{i}") for i in range(5)])
    await run_to_empty(pipeline(store, sandbox))
    assert len(sandbox.state.contacts()) == 5
    log = limited_log(sandbox)
    for user in {r.json_body()["userId"] for r in log}:
        attempts = [r for r in log if r.json_body()["userId"] == user]
        for previous, following in itertools.pairwise(attempts):
            if previous.status == 429:  # Retry-After: 1 (whole seconds) is never cut short
                assert following.time - previous.time >= 0.9
    assert store.stats(time.time()).dead_letters == 0


async def test_a_429_holds_every_sender_for_its_retry_after(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    # One request per second; a 429 answers Retry-After: 1. One request in flight at a time, so after
    # a 429 nothing at all may reach Gleap for a second: not the retry, and not the other users' events.
    sandbox.set_faults(rate_limit=1, rate_limit_window=1.0)
    store.append([identify(f"u{i}") for i in range(3)])
    p = await run_to_empty(pipeline(store, sandbox, config=fast(max_concurrency=1)), 20)
    assert len(sandbox.state.contacts()) == 3
    log = limited_log(sandbox)
    for previous, following in itertools.pairwise(log):
        if previous.status == 429:
            assert following.time - previous.time >= 0.9, (previous, following)
    assert metric(p, "gleap_actions_requests_total", mapping="Identify Contact", outcome="retryable") == sum(
        r.status == 429 for r in log
    )


async def test_a_429_schedules_the_retry_no_sooner_than_retry_after(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    # The wait is recorded with the delivery in the store, not only held in memory: a service started
    # on the same queue right after the 429 still waits out the Retry-After before sending it again.
    sandbox.set_faults(rate_limit=1, rate_limit_window=1.0)
    store.append([identify("u0"), identify("u1")])
    first = pipeline(store, sandbox, config=fast(max_concurrency=1))
    await first.start()
    try:
        deadline = time.monotonic() + 10
        while store.stats(time.time()).retrying == 0:
            assert time.monotonic() < deadline, "no retry was scheduled"
            await asyncio.sleep(0.01)
    finally:
        await first.stop(0.0)
    [limited] = [r for r in sandbox.state.requests(endpoint="identify") if r.status == 429]
    user = limited.json_body()["userId"]
    sandbox.set_faults(rate_limit=None)
    await run_to_empty(pipeline(store, sandbox))
    assert sandbox.state.contact(user) is not None
    [retried] = [r for r in sandbox.state.requests(endpoint="identify") if r.seq > limited.seq]
    assert retried.json_body()["userId"] == user
    assert retried.time - limited.time >= 0.9


async def test_5xx_then_recovery(store: SQLiteStore, sandbox: SandboxThread) -> None:
    sandbox.set_faults(error_rate=1.0, error_status=502)
    store.append([track("a"), track("b")])
    p = pipeline(store, sandbox)
    await p.start()
    try:
        while metric(p, "gleap_actions_failed_attempts_total", mapping="Track Event", kind="retryable") < 4:
            await asyncio.sleep(0.02)
        sandbox.set_faults(error_rate=0.0)
        await p.drain(10)
    finally:
        await p.stop()
    assert names(sandbox) == ["a", "b"]
    assert store.stats(time.time()).dead_letters == 0


async def test_retry_window_over_dead_letters_then_replay(
    store: SQLiteStore, sandbox: SandboxThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox.set_faults(error_rate=1.0, error_status=503)
    store.append([track("a"), track("b")])
    p = pipeline(store, sandbox, config=fast(retry_window=0.4))
    await p.start()
    try:
        await p.drain(10)
        dead = store.list_dead_letters()
        assert len(dead) == 2
        assert all("retry window expired" in d.reason and d.status == 503 for d in dead)
        assert all(TOKEN not in d.request and TOKEN not in d.response for d in dead)
        assert names(sandbox) == []
        sandbox.set_faults(error_rate=0.0)
        assert store.replay_dead_letters() == 2
        await p.drain(10)
    finally:
        await p.stop()
    assert names(sandbox) == ["a", "b"]
    assert "event=dead_lettered" in caplog.text and TOKEN not in caplog.text


async def test_401_pauses_without_dead_letters_and_resumes(
    store: SQLiteStore, sandbox: SandboxThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store.append([track("a"), identify("u9")])
    p = pipeline(store, sandbox, token="wrong-token", probe_interval=0.2, stats_interval=0.1)
    started = time.monotonic()
    await p.start()
    try:
        # Polled, not slept: a loaded machine may take longer than usual to make the first attempt.
        while not (
            metric(p, "gleap_actions_credentials_paused") == 1
            and metric(p, "gleap_actions_queue", state="pending") == 2
        ):
            assert time.monotonic() - started < 30, "never paused with both events pending"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # paused a while: probes, not a storm
        stats = store.stats(time.time())
        assert (stats.dead_letters, stats.pending, stats.retrying) == (0, 2, 0)
        elapsed = time.monotonic() - started
        assert sandbox.state.request_count() <= 4 + elapsed / 0.2  # a probe every 0.2 s
        assert "event=delivery_paused reason=invalid_credentials" in caplog.text
        p.resume(GleapSettings(TOKEN, sandbox.url, timeout=2.0))  # reloaded config
        await p.drain(10)
    finally:
        await p.stop()
    assert names(sandbox) == ["a"] and sandbox.state.contact("u9") is not None
    assert metric(p, "gleap_actions_credentials_paused") == 0
    assert "wrong-token" not in caplog.text and TOKEN not in caplog.text


async def test_batch_400_split_isolates_the_refused_event(store: SQLiteStore, sandbox: SandboxThread) -> None:
    # An empty event name passes the action's fields (Segment sends the event without a name) but Gleap
    # answers 400 for the whole batch: splitting isolates it and the rest is delivered.
    nameless = orjson.loads(track("x").payload) | {"event": "", "messageId": "nameless"}
    store.append(
        [track(f"e{i}") for i in range(6)]
        + [NewEvent("src", "nameless", "u1", "track", time.time(), orjson.dumps(nameless))]
        + [track(f"f{i}") for i in range(5)]
    )
    p = pipeline(store, sandbox)
    await p.start()
    try:
        await p.drain(10)
    finally:
        await p.stop()
    assert names(sandbox) == sorted([f"e{i}" for i in range(6)] + [f"f{i}" for i in range(5)])
    [dead] = store.list_dead_letters()
    assert dead.status == 400 and orjson.loads(dead.payload)["messageId"] == "nameless"
    assert orjson.loads(dead.request)["headers"]["Api-Token"] == "***"
    assert orjson.loads(dead.response)["status"] == 400


async def test_retention_purges_delivered_events(store: SQLiteStore, sandbox: SandboxThread) -> None:
    store.append([track("old")])
    p = pipeline(store, sandbox, retention=0.0, retention_interval=0.05)
    await p.start()
    try:
        await p.drain(10)
        await asyncio.sleep(0.3)  # a few retention passes
        assert store.purge_delivered(time.time() + 1) == 0  # nothing left: the task purged it
    finally:
        await p.stop()


async def test_timeouts_are_retried_and_shrink_concurrency(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    sandbox.set_faults(timeout_rate=1.0)
    store.append([identify(f"u{i}") for i in range(3)])
    p = Pipeline(store, subscriptions(), GleapSettings(TOKEN, sandbox.url, timeout=0.2), fast())
    await p.start()
    try:
        while (
            metric(p, "gleap_actions_failed_attempts_total", mapping="Identify Contact", kind="retryable") < 3
        ):
            await asyncio.sleep(0.02)
        assert p.concurrency.limit == 1
        sandbox.set_faults(timeout_rate=0.0)
        await p.drain(10)
    finally:
        await p.stop()
    assert len(sandbox.state.contacts()) == 3
    assert store.stats(time.time()).dead_letters == 0


async def test_queue_gauges_refresh_less_often_when_counting_is_slow(
    store: SQLiteStore, sandbox: SandboxThread, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[float] = []
    exact = store.stats

    def slow_stats(now: float) -> QueueStats:
        calls.append(now)
        time.sleep(0.02)  # a deep queue: counting takes long
        return exact(now)

    monkeypatch.setattr(store, "stats", slow_stats)
    p = pipeline(store, sandbox, stats_interval=0.01)
    await p.start()
    try:
        await asyncio.sleep(0.8)
    finally:
        await p.stop()
    # Every 50x the 0.02 s a count takes (1 s), not every 0.01 s: the first count and no other.
    assert len(calls) == 1
