"""The delivery pipeline end to end against a real HTTP server on 127.0.0.1 that plays Gleap."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import random
import socket
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from pipeline_support import fast, metric

from gleap_actions import events
from gleap_actions.config.topology import DestinationConfig
from gleap_actions.deliver import pipeline as pipeline_module
from gleap_actions.deliver import record as record_module
from gleap_actions.deliver.pipeline import Pipeline, Tuning
from gleap_actions.deliver.record import Exchange, Observe
from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.client import Response
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.action import Request
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.base import RETENTION_MAX_SCAN
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, Route, StoreFullError

TOKEN = "secret-token-123"


@dataclass
class Gleap:
    """A scriptable Gleap: `script` decides the answer to each request (None -> 200)."""

    url: str = ""
    script: Callable[[list[dict[str, Any]]], web.Response | None] = lambda events: None
    received: list[tuple[float, list[dict[str, Any]]]] = field(default_factory=list)  # (time, events) per 2xx
    attempts: list[tuple[float, list[dict[str, Any]]]] = field(default_factory=list)  # every request
    sizes: list[int] = field(default_factory=list)  # the body bytes of every request
    hang: float = 0.0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.sizes.append(len(body))
        events = orjson.loads(body)["events"]
        self.attempts.append((time.monotonic(), events))
        if self.hang:
            await asyncio.sleep(self.hang)
        if request.headers.get("Api-Token") != TOKEN:
            return web.json_response({"error": "unauthorized"}, status=401)
        answer = self.script(events)
        if answer is not None:
            return answer
        self.received.append((time.monotonic(), events))
        return web.json_response({"ok": True})

    @property
    def delivered(self) -> list[str]:
        return [e["name"] for _, events in self.received for e in events]


@pytest.fixture
async def gleap() -> AsyncIterator[Gleap]:
    g = Gleap()
    app = web.Application()
    app.router.add_post("/admin/track", g.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    g.url = f"http://127.0.0.1:{port}"
    yield g
    await runner.cleanup()


def track(name: str, **extra: Any) -> NewEvent:
    now = time.time()
    raw = {"type": "track", "event": name, "userId": "u1", "messageId": name, **extra}
    event = events.normalize(raw, "track", received_at=now)
    return NewEvent("src", event["messageId"], raw["userId"], "track", now, orjson.dumps(event))


def pipeline(
    store: SQLiteStore,
    gleap: Gleap,
    token: str = TOKEN,
    observe: Observe | None = None,
    batch_size: int = 100,
    batching: bool = True,
    **kw: Any,
) -> Pipeline:
    config = kw.pop("config", fast())
    track_event = Subscription.compile(
        "Track Event", ACTIONS["trackEvent"], batching=batching, batch_size=batch_size
    )
    settings = GleapSettings(token, gleap.url, timeout=2.0)
    return Pipeline(store, [track_event], settings, config, tuning=Tuning(**kw), observe=observe)


async def run_until_drained(p: Pipeline, timeout: float) -> None:
    """Start `p`, wait until it has nothing left to deliver (at most `timeout` seconds), stop it."""
    await p.start()
    try:
        await p.drain(timeout)
    finally:
        await p.stop()


async def test_batches_by_size_and_a_trickle_goes_out_after_linger(gleap: Gleap, store: SQLiteStore) -> None:
    store.append([track(f"e{i}") for i in range(250)])
    p = pipeline(store, gleap)
    await p.start()
    try:
        await p.drain(5)
        sizes = sorted(len(events) for _, events in gleap.received)
        assert sizes == [50, 100, 100]
        start = time.monotonic()
        store.append([track("late")])
        p.notify()
        await p.drain(5)
        assert gleap.received[-1][1][0]["name"] == "late"
        assert gleap.received[-1][0] - start < 0.5  # linger 0.05 s, not a full batch's wait
    finally:
        await p.stop()  # the delivered counter moves just after the ack that drain() sees: read it after
    assert metric(p, "gleap_actions_delivered_total", mapping="Track Event") == 251
    # The last delivery is the last progress (`send` gives up after a while without any).
    assert gleap.received[-1][0] <= p.outcomes.last_progress <= time.monotonic()


async def until(condition: Callable[[], bool]) -> None:
    """Poll `condition` until it holds (for at most 5 s)."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in 5 s")


async def test_a_full_batch_of_several_users_goes_out_without_lingering(
    gleap: Gleap, store: SQLiteStore
) -> None:
    """Two users' events fill one batch: they are claimed together and sent at once, long before the
    linger of a partial batch (30 s) would end."""
    store.append([track("a", userId="ua"), track("b", userId="ub")])
    p = pipeline(store, gleap, config=fast(linger=30.0, max_concurrency=1), batch_size=2)
    await p.start()
    try:
        await until(lambda: bool(gleap.attempts))
    finally:
        await p.stop()
    assert [[e["name"] for e in events] for _, events in gleap.attempts] == [["a", "b"]]


async def test_a_batch_size_of_one_sends_one_event_per_request(gleap: Gleap, store: SQLiteStore) -> None:
    """Batching with a batch size of 1: each event goes in a request of its own."""
    store.append([track("a"), track("b")])
    p = pipeline(store, gleap, batch_size=1)
    await run_until_drained(p, 5)
    assert [[e["name"] for e in events] for _, events in gleap.attempts] == [["a"], ["b"]]


async def test_unbatched_events_are_claimed_one_per_request_that_can_be_sent_soon(
    gleap: Gleap, store: SQLiteStore
) -> None:
    """Without batching, a claim takes one event per request that can be under way: here one in flight
    (the concurrency limit starts at 1) and one waiting for the next of 60 tokens a minute. While "a" is
    answered slowly, three more events of other users come: one of them is claimed, not all three."""
    gleap.hang = 0.5
    config = fast(max_concurrency=1, requests_per_minute=60)
    p = pipeline(store, gleap, config=config, batching=False)
    await p.start()
    try:
        store.append([track("a", userId="ua")])
        await until(lambda: bool(gleap.attempts))
        store.append([track(name, userId=f"u{name}") for name in "bcd"])
        await until(lambda: store.stats(time.time()).in_flight >= 2)
        in_flight = store.stats(time.time()).in_flight
    finally:
        await p.stop(timeout=0.0)
    assert in_flight == 2


async def test_a_partial_batch_lingers_then_tops_up_to_one_batch_per_free_request(
    gleap: Gleap, store: SQLiteStore
) -> None:
    gleap.hang = 0.5
    p = pipeline(store, gleap, config=fast(linger=0.9, max_concurrency=1), batch_size=2)
    await p.start()
    try:
        store.append([track("a", userId="ua")])
        p.notify()
        await until(lambda: store.stats(time.time()).in_flight == 1)  # "a" claimed, lingering
        store.append([track(name, userId=f"u{name}") for name in "bcd"])
        p.notify()
        await until(lambda: bool(gleap.attempts))
        # the batch took what came while it lingered, up to its size; the rest waits for a free request
        assert [e["name"] for e in gleap.attempts[0][1]] == ["a", "b"]
        assert store.stats(time.time()).in_flight == 2
        await p.drain(5)
    finally:
        await p.stop()
    assert [[e["name"] for e in events] for _, events in gleap.attempts] == [["a", "b"], ["c", "d"]]


async def test_rejected_and_filtered_events(gleap: Gleap, store: SQLiteStore) -> None:
    undated = {k: v for k, v in orjson.loads(track("x").payload).items() if k != "timestamp"}
    store.append(
        [
            track("ok"),
            NewEvent("src", "no-name", "u1", "track", time.time(), orjson.dumps(undated)),
            track("off", integrations={"All": False}),
            NewEvent("src", "id1", "u1", "identify", time.time(), b'{"type":"identify","userId":"u1"}'),
        ]
    )
    p = pipeline(store, gleap)
    await run_until_drained(p, 5)
    assert gleap.delivered == ["ok"]
    [dead] = store.list_dead_letters()
    assert dead.status == 400
    assert dead.reason == "PAYLOAD_VALIDATION_FAILED: The root value is missing the required field 'date'."
    assert metric(p, "gleap_actions_filtered_events_total", reason="integrations") == 1
    assert metric(p, "gleap_actions_filtered_events_total", reason="no_matching_mapping") == 1


async def test_429_retry_after_is_honoured(gleap: Gleap, store: SQLiteStore) -> None:
    answers = [web.Response(status=429, headers={"Retry-After": "1"})]
    gleap.script = lambda events: answers.pop() if answers else None
    store.append([track("a"), track("b")])
    p = pipeline(store, gleap)
    await run_until_drained(p, 5)
    assert gleap.delivered == ["a", "b"]
    first, second = gleap.attempts[0][0], gleap.attempts[1][0]
    assert second - first >= 0.95
    assert store.list_dead_letters() == []


async def test_a_retry_after_with_a_5xx_holds_every_request_to_the_endpoint(
    gleap: Gleap, store: SQLiteStore
) -> None:
    answers = [web.Response(status=503, headers={"Retry-After": "1"})]
    gleap.script = lambda events: answers.pop() if answers else None
    store.append([track("a")])
    p = pipeline(store, gleap)
    await p.start()
    try:
        for _ in range(500):  # until the 503 is recorded (the endpoint paused before the retry is written)
            if store.stats(time.time()).retrying:
                break
            await asyncio.sleep(0.01)
        store.append([track("b", userId="u2")])  # another user's (not queued behind "a"): held by the pause
        p.notify()
        await p.drain(5)
    finally:
        await p.stop()
    assert sorted(gleap.delivered) == ["a", "b"]
    refused = gleap.attempts[0][0]
    b_sent = next(
        at for at, events in gleap.attempts if [e["name"] for e in events] == ["b"] or len(events) == 2
    )
    assert b_sent - refused >= 0.95


async def test_5xx_then_recovery(gleap: Gleap, store: SQLiteStore) -> None:
    failures = iter([500, 502, 503])
    gleap.script = lambda events: next((web.Response(status=s) for s in failures), None)
    store.append([track("a")])
    p = pipeline(store, gleap)
    await run_until_drained(p, 5)
    assert gleap.delivered == ["a"] and len(gleap.attempts) == 4
    assert metric(p, "gleap_actions_failed_attempts_total", mapping="Track Event", kind="retryable") == 3
    assert p.outcomes.last_error == "HTTP 503: 503 Service Unavailable"  # the send command reports it


async def test_a_retry_remembers_its_error_in_the_store(gleap: Gleap, tmp_path: Path) -> None:
    gleap.script = lambda events: web.Response(status=503, text="down")
    store = SQLiteStore(tmp_path / "queue.db")
    store.append([track("a")])
    p = pipeline(store, gleap, config=fast(initial_backoff=30.0, max_backoff=30.0))  # not due again here
    await p.start()
    try:
        await until(lambda: store.stats(time.time()).retrying == 1)
    finally:
        await p.stop()
        store.close()
    with sqlite3.connect(tmp_path / "queue.db") as db:  # no store call returns it (for operators)
        rows = db.execute("SELECT attempts, last_error FROM deliveries").fetchall()
    assert rows == [(1, "HTTP 503: 503 Service Unavailable")]


async def test_retry_window_expiry_dead_letters_and_replay_delivers(gleap: Gleap, store: SQLiteStore) -> None:
    down = True
    gleap.script = lambda events: web.Response(status=503, text="down") if down else None
    store.append([track("a"), track("b")])
    p = pipeline(store, gleap, config=fast(retry_window=0.4))
    await p.start()
    try:
        await p.drain(5)
        dead = store.list_dead_letters()
        assert {orjson.loads(d.payload)["event"] for d in dead} == {"a", "b"}
        tried = len(gleap.attempts)  # "a" and "b" in every request
        reason = f"retry window expired after {tried} attempts; last error: HTTP 503: 503 Service Unavailable"
        assert [d.reason for d in dead] == [reason, reason]
        assert {(d.status, d.response) for d in dead} == {(503, "")}
        assert metric(p, "gleap_actions_dead_lettered_total", reason="retry_window") == 2
        assert all(TOKEN not in d.request and "***" in d.request for d in dead)
        assert gleap.delivered == []
        down = False
        assert store.replay_dead_letters() == 2
        await p.drain(5)
        assert sorted(gleap.delivered) == ["a", "b"]
    finally:
        await p.stop()


async def test_an_unexpected_error_is_retried_then_dead_lettered_without_a_status(
    gleap: Gleap, store: SQLiteStore
) -> None:
    async def broken(session: aiohttp.ClientSession, request: Request, timeout: float) -> Response:
        raise RuntimeError("the send function failed")  # an embedder's send with a bug

    track_event = Subscription.compile("Track Event", ACTIONS["trackEvent"], batching=True, batch_size=100)
    settings = GleapSettings(TOKEN, gleap.url, timeout=2.0)
    store.append([track("a")])
    p = Pipeline(store, [track_event], settings, fast(retry_window=0.3), send=broken)
    await run_until_drained(p, 5)
    [dead] = store.list_dead_letters()
    assert dead.status is None
    assert dead.reason.startswith("retry window expired after ")
    assert dead.reason.endswith(" attempts; last error: the send function failed")
    assert metric(p, "gleap_actions_failed_attempts_total", mapping="Track Event", kind="unexpected") >= 2


async def test_an_event_that_cannot_be_planned_is_retried_then_dead_lettered_without_a_request(
    gleap: Gleap, store: SQLiteStore
) -> None:
    unreadable = NewEvent(
        "src", "m1", "u1", "track", time.time(), b"{not json", route=Route(("Track Event",))
    )
    store.append([unreadable])
    p = pipeline(store, gleap, config=fast(retry_window=0.3))
    await run_until_drained(p, 5)
    [dead] = store.list_dead_letters()
    assert (dead.status, dead.request, dead.response) == (None, "", "")
    assert dead.reason.startswith("retry window expired after ")
    assert gleap.attempts == []


async def test_bad_credentials_pause_without_dead_letters_then_resume(
    gleap: Gleap, store: SQLiteStore
) -> None:
    store.append([track("a"), track("b")])
    seen: list[Exchange] = []
    p = pipeline(store, gleap, token="wrong", probe_interval=0.2, observe=seen.append)
    await p.start()
    try:
        await asyncio.sleep(0.6)
        assert metric(p, "gleap_actions_credentials_paused") == 1
        assert seen and {(x.outcome, x.status, x.response) for x in seen} == {
            ("paused", 401, "the API token was refused")
        }
        assert 1 <= len(gleap.attempts) <= 5  # probes every 0.2 s, not a storm
        stats = store.stats(time.time())
        assert stats.dead_letters == 0 and stats.pending == 2 and stats.retrying == 0
        p.resume(GleapSettings(TOKEN, gleap.url, timeout=2.0))  # a config reload with the right token
        await p.drain(5)
        assert sorted(gleap.delivered) == ["a", "b"]
        assert metric(p, "gleap_actions_credentials_paused") == 0
    finally:
        await p.stop()


async def test_batch_400_is_split_to_isolate_the_bad_event(gleap: Gleap, store: SQLiteStore) -> None:
    gleap.script = lambda events: (
        web.json_response({"error": "bad"}, status=400) if any(e["name"] == "bad" for e in events) else None
    )
    store.append([track(f"e{i}") for i in range(6)] + [track("bad")] + [track(f"f{i}") for i in range(5)])
    p = pipeline(store, gleap)
    await run_until_drained(p, 5)
    assert len(gleap.delivered) == 11 and "bad" not in gleap.delivered
    [dead] = store.list_dead_letters()
    assert orjson.loads(dead.payload)["event"] == "bad"
    assert dead.status == 400 and orjson.loads(dead.response) == {"status": 400, "body": '{"error": "bad"}'}
    assert orjson.loads(dead.request)["headers"]["Api-Token"] == "***"


async def test_graceful_stop_releases_work_in_flight(gleap: Gleap, store: SQLiteStore) -> None:
    gleap.hang = 1.0
    store.append([track("a")])
    p = pipeline(store, gleap)
    await p.start()
    while not gleap.attempts:
        await asyncio.sleep(0.01)
    start = time.monotonic()
    await p.stop(timeout=0.2)
    assert time.monotonic() - start < 1.0
    stats = store.stats(time.time())
    assert stats.pending == 1 and stats.in_flight == 0 and stats.retrying == 0


async def test_a_stop_while_a_partial_batch_lingers_gives_it_back_once_every_loop_ended(
    gleap: Gleap, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A stop while a claimed partial batch lingers (30 s): `stop` returns once the delivery loops have
    ended, with the batch given back unsent and nothing logged as failed."""
    store.append([track("a")])
    p = pipeline(store, gleap, config=fast(linger=30.0))
    await p.start()
    try:
        await until(lambda: store.stats(time.time()).in_flight == 1)
    finally:
        with caplog.at_level(logging.WARNING, logger="gleap_actions.deliver"):
            await p.stop()
    loops = [task for lane in p.lanes.values() for task in lane.tasks]
    assert len(loops) == 1 and loops[0].done()
    stats = store.stats(time.time())
    assert (stats.pending, stats.in_flight, gleap.attempts) == (1, 0, [])
    assert [r.getMessage() for r in caplog.records if r.name.startswith("gleap_actions.deliver")] == []


async def test_restart_with_a_backlog_delivers_everything(gleap: Gleap, tmp_path: Path) -> None:
    first = SQLiteStore(tmp_path / "queue.db")
    first.append([track(f"e{i}") for i in range(500)])
    gleap.hang = 0.3  # slow enough that the first run stops with most of the backlog still queued
    p = pipeline(first, gleap)
    await p.start()
    while not gleap.attempts:
        await asyncio.sleep(0.01)
    await p.stop(timeout=0.0)
    first.close()
    assert len(gleap.delivered) < 500

    gleap.hang = 0.0
    second = SQLiteStore(tmp_path / "queue.db")  # a new process on the same file
    p = pipeline(second, gleap)
    await p.start()
    try:
        await p.drain(10)
    finally:
        await p.stop()
        second.close()
    assert sorted(set(gleap.delivered)) == sorted(f"e{i}" for i in range(500))


async def test_the_observer_sees_what_became_of_each_request(
    gleap: Gleap, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    answers = [web.json_response({"error": "busy"}, status=503)]  # the first request only

    def script(events: list[dict[str, Any]]) -> web.Response | None:
        if answers:
            return answers.pop()
        bad = any(e["name"] == "bad" for e in events)
        return web.json_response({"error": "bad"}, status=400) if bad else None

    gleap.script = script
    seen: list[Exchange] = []
    store.append([track("e0"), track("bad")])
    p = pipeline(store, gleap, observe=seen.append)
    await p.start()
    try:
        with caplog.at_level(logging.WARNING, logger="gleap_actions.deliver.record"):
            await p.drain(5)
    finally:
        await p.stop()
    # a 503, then the retried batch is answered 400 and split: its good half is delivered, the bad one not
    assert sorted((x.outcome, x.status, [e["event"] for e in x.events], x.response) for x in seen) == [
        ("dead_lettered", 400, ["bad"], '{"error": "bad"}'),
        ("delivered", 200, ["e0"], '{"ok": true}'),
        ("retrying", 503, ["e0", "bad"], "HTTP 503: 503 Service Unavailable"),
    ]
    assert {x.mapping for x in seen} == {"Track Event"}
    assert all(orjson.loads(x.request)["headers"]["Api-Token"] == "***" for x in seen)
    assert metric(p, "gleap_actions_dead_lettered_total", reason="final_http") == 1
    reason = "HTTP 400: 400 Bad Request"
    assert p.outcomes.dead_lettered == {("Track Event", reason): 1}
    assert (
        f"event=dead_lettered mapping=Track Event kind=final_http events=1 status=400 reason={reason!r}"
        in [r.getMessage() for r in caplog.records]
    )


async def test_each_retry_waits_a_backoff_jittered_below_a_cap_doubled_per_attempt(
    gleap: Gleap, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    failures = iter([503, 503, 503])
    gleap.script = lambda events: next((web.Response(status=s) for s in failures), None)
    store.append([track("a")])
    p = pipeline(store, gleap, config=fast(initial_backoff=0.1, max_backoff=10.0), jitter=random.Random(5))
    await p.start()
    try:
        with caplog.at_level(logging.WARNING, logger="gleap_actions.deliver.record"):
            await p.drain(5)
    finally:
        await p.stop()
    assert gleap.delivered == ["a"] and len(gleap.attempts) == 4
    # the n-th failure waits between the initial backoff and initial * 2**n: the same draws, replayed
    twin = random.Random(5)
    expected = [twin.uniform(0.1, 0.1 * 2**n) for n in (1, 2, 3)]  # below 0.2, 0.4, 0.8
    assert [round(d, 2) for d in expected] == [0.16, 0.32, 0.66]
    error = "'HTTP 503: 503 Service Unavailable'"
    assert [m for m in caplog.messages if "delivery_retry" in m] == [
        f"event=delivery_retry mapping=Track Event events=1 in={d:.2f}s error={error}" for d in expected
    ]


async def test_an_answer_that_is_not_utf8_is_shown_with_replacement_characters(
    gleap: Gleap, store: SQLiteStore
) -> None:
    gleap.script = lambda events: web.Response(body=b'{"ok": "caf\xe9"}', content_type="application/json")
    seen: list[Exchange] = []
    store.append([track("a")])
    p = pipeline(store, gleap, observe=seen.append)
    await run_until_drained(p, 5)
    assert [(x.outcome, x.status, x.response) for x in seen] == [("delivered", 200, '{"ok": "caf\ufffd"}')]
    assert metric(p, "gleap_actions_delivered_total", mapping="Track Event") == 1


async def test_a_split_is_logged_with_its_sizes_and_its_halves_go_in_order(
    gleap: Gleap, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A batch answered 400 is logged (`batch_split`, what operators read) and its halves of one user go
    one after another in the same pass, the bad event dead-lettered first. Here the loop idles 30 s when a
    claim finds nothing, and a first delivery lets two requests be in flight, so it does not wait for the
    split batch's task: a half given back after its predecessor settled would not go out in time."""
    gleap.script = lambda events: (
        web.json_response({}, status=400) if any(e["name"] == "bad" for e in events) else None
    )
    store.append([track("w", userId="u0")])
    p = pipeline(store, gleap, poll_interval=30.0)
    await p.start()
    try:
        await p.drain(5)
        store.append([track("bad"), track("e1")])
        p.notify()
        with caplog.at_level(logging.INFO, logger="gleap_actions.deliver.delivery"):
            await p.drain(5)
    finally:
        await p.stop()
    assert gleap.delivered == ["w", "e1"]
    assert [orjson.loads(d.payload)["event"] for d in store.list_dead_letters()] == ["bad"]
    assert [m for m in caplog.messages if "batch_split" in m] == [
        f"event=batch_split mapping=Track Event events=2 status=400 bytes={gleap.sizes[1]}"
        " limit_events=100 limit_bytes=1000000"
    ]


async def test_a_half_left_to_retry_gives_back_the_rest_of_its_user(gleap: Gleap, store: SQLiteStore) -> None:
    """The first half of a split batch fails (503): the second half, of the same user, is given back at
    once (not left claimed until its lease ends) and goes out after the first is retried."""
    failures = [web.Response(status=503)]

    def script(events: list[dict[str, Any]]) -> web.Response | None:
        if len(events) > 1:
            return web.json_response({}, status=400)
        return failures.pop() if failures and events[0]["name"] == "e0" else None

    gleap.script = script
    store.append([track("e0"), track("e1")])
    p = pipeline(store, gleap, lease=60.0)
    await run_until_drained(p, 5)
    assert gleap.delivered == ["e0", "e1"]


async def test_request_outcomes_are_counted_by_kind(gleap: Gleap, store: SQLiteStore) -> None:
    """The requests and failed events counted by outcome after a batch is split around a bad event: the
    batch and the bad event alone are `final`, the good half `ok`; one acknowledgement, committed at
    once."""
    gleap.script = lambda events: (
        web.json_response({}, status=400) if any(e["name"] == "bad" for e in events) else None
    )
    store.append([track("good", userId="u1"), track("bad", userId="u2")])
    p = pipeline(store, gleap)
    await run_until_drained(p, 5)
    kinds = ("ok", "final", "credentials")
    requests = {kind: metric(p, "gleap_actions_requests_total", outcome=kind) for kind in kinds}
    assert requests == {"ok": 1, "final": 2, "credentials": 0}
    assert metric(p, "gleap_actions_failed_attempts_total", kind="final") == 3
    assert metric(p, "gleap_actions_ack_seconds_count") == 1
    assert 0 <= metric(p, "gleap_actions_ack_seconds_sum") < 1.0


async def test_a_refused_token_is_counted_and_logged_with_its_status(
    gleap: Gleap, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A 401 counts one `credentials` request and its events, and the pause names the status."""
    store.append([track("a"), track("b")])
    p = pipeline(store, gleap, token="wrong")
    with caplog.at_level(logging.ERROR, logger="gleap_actions.deliver.gate"):
        await p.start()
        try:
            await until(lambda: metric(p, "gleap_actions_credentials_paused") == 1)
        finally:
            await p.stop()
    assert metric(p, "gleap_actions_requests_total", outcome="credentials") == 1
    assert metric(p, "gleap_actions_failed_attempts_total", kind="credentials") == 2
    assert caplog.messages == [
        "event=delivery_paused reason=invalid_credentials status=401 probe_interval=30.0 destination=default"
    ]


async def test_a_lone_event_too_large_teaches_the_byte_limit_not_the_count(
    gleap: Gleap, store: SQLiteStore
) -> None:
    """A 413 to a single event says its bytes are too many: the event limit stays at the batch size."""
    gleap.script = lambda events: web.json_response({}, status=413)
    store.append([track("huge")])
    p = pipeline(store, gleap)
    await run_until_drained(p, 5)
    assert metric(p, "gleap_actions_batch_events_limit") == 100
    assert metric(p, "gleap_actions_batch_bytes_limit") < 1_000_000


async def test_the_observer_sees_an_event_rejected_by_validation(gleap: Gleap, store: SQLiteStore) -> None:
    """An event the mapping rejects (no user id) is shown to the observer, and never sent."""
    raw = {"type": "track", "event": "anon", "anonymousId": "a1", "messageId": "m1"}
    event = events.normalize(raw, "track", received_at=time.time())
    store.append([NewEvent("src", "m1", None, "track", time.time(), orjson.dumps(event))])
    seen: list[Exchange] = []
    p = pipeline(store, gleap, observe=seen.append)
    await run_until_drained(p, 5)
    reason = "PAYLOAD_VALIDATION_FAILED: The root value is missing the required field 'userId'."
    assert seen == [Exchange("Track Event", [event], "rejected", "", 400, reason)]
    assert gleap.attempts == []


async def test_resume_without_new_settings_reopens_and_keeps_the_settings(
    gleap: Gleap, store: SQLiteStore
) -> None:
    """`resume()` with no reloaded settings only reopens the gate: delivery goes on with the same ones."""
    p = pipeline(store, gleap)
    await p.start()
    try:
        p.resume()
        store.append([track("a")])
        p.notify()
        await p.drain(5)
    finally:
        await p.stop()
    assert gleap.delivered == ["a"]


async def test_drain_polls_often_and_names_what_is_left_when_it_times_out(
    gleap: Gleap, store: SQLiteStore
) -> None:
    """`drain` returns soon after the queue empties (it polls every 0.05 s by default), and a timeout
    says what was left."""
    p = pipeline(store, gleap)
    await p.start()
    try:
        store.append([track("a")])
        p.notify()
        start = time.monotonic()
        await p.drain()
        assert time.monotonic() - start < 0.9  # not a second's poll
        gleap.hang = 2.0
        store.append([track("b")])
        p.notify()
        with pytest.raises(TimeoutError, match=r"^pipeline not drained: QueueStats\("):
            await p.drain(0.2)
    finally:
        await p.stop(timeout=0.0)


async def test_drain_gives_up_after_30_seconds_by_default(
    gleap: Gleap, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a timeout, `drain` raises once 30 s have passed on its clock, exactly at the deadline (a
    stopped pipeline never drains; the clock reads 0 at the start, 29.5, then 30)."""
    store.append([track("a")])
    p = pipeline(store, gleap)
    readings = iter([0.0, 29.5])
    clock = SimpleNamespace(monotonic=lambda: next(readings, 30.0), time=time.time)
    monkeypatch.setattr(pipeline_module, "time", clock)
    try:
        with pytest.raises(TimeoutError, match=r"^pipeline not drained: "):
            # a drain that never gave up would end here, without that message
            await asyncio.wait_for(p.drain(poll=0.01), 1.0)
    finally:
        await p.stop()


@pytest.mark.parametrize(
    ("readings", "dead_lettered", "failures"),
    [
        # 29.95 + the first 0.05 s wait ends exactly at the deadline (half the 60 s lease): tried again
        ([29.95], ["a", "b"], []),
        # that wait would end past the deadline: the outcome is left to the lease, and logged
        ([29.96], [], ["event=record_outcome_failed mapping=Track Event events=2"]),
        # refused twice: the second wait is twice the first (0.1 s), ending exactly at the deadline
        ([29.8, 29.9], ["a", "b"], []),
        ([29.8, 29.91], [], ["event=record_outcome_failed mapping=Track Event events=2"]),
    ],
)
async def test_an_outcome_the_store_refuses_is_tried_again_for_half_a_lease(
    gleap: Gleap,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    readings: list[float],
    dead_lettered: list[str],
    failures: list[str],
) -> None:
    """Another connection holds SQLite's write lock when a batch is answered 422, so its dead letter
    cannot be written (`StoreFullError`). The record module's clock reads 0 when the write is first tried,
    then `readings` after each refused write; the lock is let go at the last reading. Within the deadline
    the write is tried again after 0.05 s, then 0.1 s, and lands; past it, it is given up and the failure
    logged with the number of events left claimed."""
    store = SQLiteStore(tmp_path / "queue.db", busy_timeout=0.0)
    blocker = sqlite3.connect(tmp_path / "queue.db", isolation_level=None)

    def refuse(events: list[dict[str, Any]]) -> web.Response:
        blocker.execute("BEGIN IMMEDIATE")
        return web.json_response({"error": "unprocessable"}, status=422)

    clock_readings = iter([0.0, *readings])

    def clock() -> float:
        reading = next(clock_readings, readings[-1])
        if reading == readings[-1] and blocker.in_transaction:
            blocker.execute("ROLLBACK")  # the store can write again
        return reading

    gleap.script = refuse
    monkeypatch.setattr(record_module, "time", SimpleNamespace(monotonic=clock, time=time.time))
    store.append([track("a"), track("b")])
    p = pipeline(store, gleap, lease=60.0)

    def logged() -> list[str]:
        return [m for m in caplog.messages if "record_outcome_failed" in m]

    await p.start()
    try:
        with caplog.at_level(logging.ERROR, logger="gleap_actions.deliver.delivery"):
            await until(lambda: bool(store.list_dead_letters() or logged()))
        dead = [orjson.loads(d.payload)["event"] for d in store.list_dead_letters()]
    finally:
        await p.stop()
        blocker.close()
        store.close()
    assert len(gleap.attempts) == 1
    assert dead == dead_lettered
    assert logged() == failures


async def test_a_byte_limit_learned_from_a_413_plans_the_next_batches_small_enough(
    gleap: Gleap, store: SQLiteStore
) -> None:
    """A batch of 10 small events is accepted (10 events are proven), so a 413 to a batch of 10 large
    ones teaches the bytes, not the count: the next batch of 10 large events goes out in requests under the
    learned byte limit, none refused."""
    limit = 10_000  # bytes this Gleap accepts in one body: about 9 of the large events
    gleap.script = lambda events: web.json_response({}, status=413) if gleap.sizes[-1] > limit else None
    p = pipeline(store, gleap)
    await p.start()
    try:
        refused = []
        for n, padding in enumerate([10, 1000, 1000]):
            store.append([track(f"r{n}e{i}", properties={"pad": "x" * padding}) for i in range(10)])
            p.notify()
            await p.drain(5)
            refused.append(len(gleap.attempts) - len(gleap.received))
    finally:
        await p.stop()
    assert len(gleap.delivered) == 30 and store.list_dead_letters() == []
    assert refused == [0, 1, 1]  # the first large batch only
    assert metric(p, "gleap_actions_batch_events_limit") == 100


async def test_an_event_rejected_in_a_later_batch_of_a_claim_is_the_one_dead_lettered(
    gleap: Gleap, store: SQLiteStore
) -> None:
    """Gleap refuses batches of 4 events (413), so batches of 4 are learned down to 3: the next claim of
    4 events is planned in two batches, and the event the mapping rejects (no date), alone in the second
    batch, is the one dead-lettered, not the first event of the claim."""
    gleap.script = lambda events: web.json_response({}, status=413) if len(events) >= 4 else None

    def undated(name: str) -> NewEvent:
        event = {k: v for k, v in orjson.loads(track(name).payload).items() if k != "timestamp"}
        return NewEvent("src", name, "u1", "track", time.time(), orjson.dumps(event))

    p = pipeline(store, gleap, batch_size=4)
    await p.start()
    try:
        store.append([track(f"e{i}") for i in range(4)])
        p.notify()
        await p.drain(5)
        store.append([track("a"), track("b"), track("c"), undated("bad")])  # received after the first 4
        p.notify()
        await p.drain(5)
    finally:
        await p.stop()
    assert [[e["name"] for e in events] for _, events in gleap.attempts] == [
        ["e0", "e1", "e2", "e3"],
        ["e0", "e1"],
        ["e2", "e3"],
        ["a", "b", "c"],
    ]
    assert [orjson.loads(d.payload).get("event") for d in store.list_dead_letters()] == ["bad"]


async def test_store_calls_run_in_four_threads_named_for_the_store_and_stop_ends_them(
    gleap: Gleap, store: SQLiteStore
) -> None:
    """Store calls run in a pool of four threads named `gleap-store_N` (what a thread dump shows): six
    calls that all wait start four threads, the other two wait their turn; `stop` ends the threads."""
    p = pipeline(store, gleap)
    before = set(threading.enumerate())
    release = threading.Event()

    def held() -> str:
        release.wait(5.0)
        return threading.current_thread().name

    calls = [asyncio.ensure_future(p.run(held)) for _ in range(6)]
    try:
        # The six calls are submitted in one turn of the loop: every thread the pool starts for them is
        # there once four are.
        await until(lambda: len(set(threading.enumerate()) - before) >= 4)
        started = set(threading.enumerate()) - before
        assert sorted(t.name for t in started) == [f"gleap-store_{i}" for i in range(4)]
    finally:
        release.set()
        names = await asyncio.gather(*calls)
        await p.stop()
    assert set(names) <= {t.name for t in started}
    assert [t.name for t in started if t.is_alive()] == []


@pytest.mark.parametrize(("behind", "pending"), [(9.0, 0), (9.8, 1)])
async def test_stop_lets_requests_in_flight_finish_for_ten_seconds_by_default(
    gleap: Gleap, store: SQLiteStore, monkeypatch: pytest.MonkeyPatch, behind: float, pending: int
) -> None:
    """`stop()` gives requests in flight 10 s to finish, then releases what is left. The pipeline's clock
    reads `behind` seconds less than the lane's: a request Gleap answers after 0.5 s has 1.0 s left and
    is delivered, or 0.2 s left and is released (pending again, no attempt counted)."""
    gleap.hang = 0.5
    store.append([track("a")])
    p = pipeline(store, gleap)
    await p.start()
    await until(lambda: bool(gleap.attempts))
    clock = SimpleNamespace(monotonic=lambda: time.monotonic() - behind, time=time.time)
    monkeypatch.setattr(pipeline_module, "time", clock)
    await p.stop()
    stats = store.stats(time.time())
    assert (stats.pending, stats.in_flight, stats.retrying) == (pending, 0, 0)


async def test_work_of_a_dead_process_is_released_at_start_and_the_lifecycle_is_logged(
    gleap: Gleap, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A pipeline of a process that is gone (its owner name: this pid with another start time) claimed
    two events for routing, and routing failed (its `delivery_enabled` raised, logged): they stay
    claimed under its name for a minute. The next pipeline gives them back at start and delivers them
    at once. Start (with what was given back) and stop are logged with the owner, the loops are tasks
    named for what they do, and none is left running after `stop`."""
    dead = f"{socket.gethostname()}:{os.getpid()}:1:dead0000"

    def broken(event: Any) -> bool:
        raise RuntimeError("integrations unreadable")

    settings = GleapSettings(TOKEN, gleap.url, timeout=2.0)
    track_event = Subscription.compile("Track Event", ACTIONS["trackEvent"], batching=True)
    tuning = Tuning(owner=dead, lease=60.0)
    first = Pipeline(store, [track_event], settings, fast(), tuning=tuning, delivery_enabled=broken)
    store.append([track("a"), track("b")])
    with caplog.at_level(logging.ERROR, logger="gleap_actions.deliver.pipeline"):
        await first.start()
        try:
            await until(lambda: "event=route_failed" in caplog.messages)
        finally:
            await first.stop()
    caplog.clear()

    loops = ("router", "stats", "retention")
    second = pipeline(store, gleap, lease=60.0)
    with caplog.at_level(logging.INFO, logger="gleap_actions.deliver.pipeline"):
        await second.start()
        try:
            assert sorted(t.get_name() for t in asyncio.all_tasks() if t.get_name() in loops) == sorted(loops)
            await second.drain(5)
        finally:
            await second.stop()
    assert [t.get_name() for t in asyncio.all_tasks() if t.get_name() in loops] == []
    assert gleap.delivered == ["a", "b"]
    assert caplog.messages == [
        "event=orphaned_work_released count=2",
        f"event=pipeline_started owner={second.owner} destinations=1 mappings=1",
        f"event=pipeline_stopped owner={second.owner}",
    ]


async def test_a_failing_store_is_logged_by_each_background_loop(
    gleap: Gleap, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """When the store fails (here: closed under the running pipeline), routing, the queue gauges and
    retention each log the failure and keep going."""
    store = SQLiteStore(tmp_path / "queue.db")
    p = pipeline(store, gleap, stats_interval=0.02, retention_interval=0.02)
    await p.start()
    failures = {"event=route_failed", "event=stats_failed", "event=retention_failed"}
    try:
        with caplog.at_level(logging.ERROR, logger="gleap_actions.deliver.pipeline"):
            store.close()
            await until(lambda: failures <= set(caplog.messages))
    finally:
        await p.stop(timeout=0.0)


async def test_the_queue_gauges_are_refreshed_every_stats_interval(gleap: Gleap, store: SQLiteStore) -> None:
    """The queue gauges follow the store while the pipeline runs: one dead letter, then two."""
    gleap.script = lambda events: web.json_response({"error": "unprocessable"}, status=422)
    p = pipeline(store, gleap, stats_interval=0.02)
    await p.start()
    try:
        for count, name in enumerate(["a", "b"], start=1):
            store.append([track(name)])
            p.notify()
            await until(lambda n=count: metric(p, "gleap_actions_queue", state="dead_letters") == n)
    finally:
        await p.stop()


def left(path: Path) -> list[str]:
    """The message ids of the events the queue file still holds."""
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT message_id FROM events ORDER BY id")]


async def test_retention_purges_only_events_received_before_its_age(
    gleap: Gleap, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a retention of an hour and the pipeline's clock an hour past the moment between two delivered
    events, the older one is purged and the newer one kept."""
    store = SQLiteStore(tmp_path / "queue.db")
    older = track("a")
    newer = dataclasses.replace(track("b"), received_at=older.received_at + 1.0)
    cut = older.received_at + 0.5
    store.append([older, newer])
    clock = SimpleNamespace(monotonic=time.monotonic, time=lambda: cut + 3600.0)
    monkeypatch.setattr(pipeline_module, "time", clock)
    p = pipeline(store, gleap, retention=3600.0, retention_interval=0.02)
    await p.start()
    try:
        await until(lambda: left(tmp_path / "queue.db") == ["b"])
    finally:
        await p.stop()
        store.close()
    assert gleap.delivered == ["a", "b"]


async def test_retention_purges_a_large_backlog_in_steps_of_one_pass(gleap: Gleap, tmp_path: Path) -> None:
    """1500 delivered events (routed to no mapping) are purged in one retention pass, in steps of 1000:
    the next pass is a minute away."""
    store = SQLiteStore(tmp_path / "queue.db")
    store.append([track(f"e{i}") for i in range(1500)])
    store.route([(e.id, []) for e in store.claim_unrouted("test", 5000, 60.0)])
    p = pipeline(store, gleap, retention=0.0, retention_interval=60.0)
    await p.start()
    try:
        await until(lambda: left(tmp_path / "queue.db") == [])
    finally:
        await p.stop()
        store.close()


async def test_destinations_without_sources_each_get_every_event_with_their_own_limits(
    gleap: Gleap, store: SQLiteStore
) -> None:
    """Given destinations and no sources, every event goes to every destination, and `rates` is asked for
    the limits of each destination by its configuration."""
    asked: list[str] = []

    def rates(destination: DestinationConfig) -> None:
        asked.append(destination.name)

    settings = GleapSettings(TOKEN, gleap.url, timeout=2.0)
    track_event = Subscription.compile("Track Event", ACTIONS["trackEvent"], batching=True)
    destinations = [DestinationConfig(name, settings, (track_event,), fast()) for name in ("eu", "us")]
    p = Pipeline(store, [], settings, fast(), destinations=destinations, rates=rates)
    store.append([track("a")])
    await run_until_drained(p, 5)
    assert asked == ["eu", "us"]
    assert gleap.delivered == ["a", "a"]


async def test_retention_goes_on_while_a_step_deletes_its_thousand(gleap: Gleap, tmp_path: Path) -> None:
    """A pass of retention goes on for as long as a step of 1000 deletes 1000, even past a step that
    stopped at its scan limit (`RETENTION_MAX_SCAN` rows, 500 a chunk): 1001 delivered events, a stretch
    of events another node holds unrouted, 999 delivered events ending exactly at the second step's scan
    limit, one held, five delivered. The pass deletes the 1000 of each step, then the last five."""
    store = SQLiteStore(tmp_path / "queue.db")
    layout = [(1001, False), (RETENTION_MAX_SCAN - 1000, True), (999, False), (1, True), (5, False)]
    for part, (count, held) in enumerate(layout):
        now = time.time()
        store.append([NewEvent("src", f"{part}-{i}", "u1", "track", now, b"{}") for i in range(count)])
        claimed = store.claim_unrouted("another node", count, 600.0)
        if not held:
            store.route([(e.id, []) for e in claimed])  # routed to no mapping: delivered
    p = pipeline(store, gleap, retention=0.0, retention_interval=60.0)
    await p.start()

    def delivered_left() -> int:
        with sqlite3.connect(tmp_path / "queue.db") as db:
            return int(db.execute("SELECT count(*) FROM events WHERE routed = 1").fetchone()[0])

    try:
        await until(lambda: delivered_left() == 0)
    finally:
        await p.stop()
        store.close()


async def test_a_store_failure_in_the_delivery_loop_is_logged_and_the_loop_tries_again_a_second_later(
    gleap: Gleap, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another connection holds SQLite's write lock, so the loop's claim fails: the failure is logged once
    with the mapping, and the loop claims again a second later (nothing wakes it sooner here: the event
    appended meanwhile comes routed, and no one notifies)."""
    store = SQLiteStore(tmp_path / "queue.db", busy_timeout=0.0)
    blocker = sqlite3.connect(tmp_path / "queue.db", isolation_level=None)
    p = pipeline(store, gleap)

    def loop_records() -> list[logging.LogRecord]:
        # the router's and the retention loop's store calls fail too, logged by the pipeline
        return [r for r in caplog.records if r.name == "gleap_actions.deliver.delivery"]

    await p.start()
    try:
        with caplog.at_level(logging.ERROR, logger="gleap_actions"):
            blocker.execute("BEGIN IMMEDIATE")
            await until(lambda: bool(loop_records()))
            failed = time.monotonic()
            blocker.execute("ROLLBACK")
            store.append([dataclasses.replace(track("a"), route=Route(("Track Event",)))])
            await until(lambda: bool(gleap.attempts))
        records = [(r.levelname, r.getMessage(), type(r.exc_info and r.exc_info[1])) for r in loop_records()]
    finally:
        await p.stop()
        blocker.close()
        store.close()
    assert records == [("ERROR", "event=delivery_loop_failed mapping=Track Event", StoreFullError)]
    assert 0.5 < gleap.attempts[0][0] - failed < 1.5  # 1 s, give or take a loaded machine
    assert gleap.delivered == ["a"]


async def test_an_event_that_cannot_be_planned_is_logged_and_retried(
    gleap: Gleap, store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    """A stored payload that is not JSON makes planning fail: the failure is logged with the mapping and
    the number of events claimed, and the delivery is scheduled for a retry like a failed send."""
    store.append([NewEvent("src", "bad", "u1", "track", time.time(), b"{", Route(("Track Event",)))])
    p = pipeline(store, gleap)
    await p.start()
    try:
        with caplog.at_level(logging.WARNING, logger="gleap_actions"):
            await until(lambda: any("delivery_retry" in m for m in caplog.messages))
        records = [(r.name, r.levelname, r.getMessage().split(" in=")[0]) for r in caplog.records]
    finally:
        await p.stop()
    assert records == [
        ("gleap_actions.deliver.delivery", "ERROR", "event=plan_failed mapping=Track Event events=1"),
        ("gleap_actions.deliver.record", "WARNING", "event=delivery_retry mapping=Track Event events=1"),
    ]
    assert gleap.attempts == []


async def test_events_stored_without_a_notify_are_routed_by_the_poll_one_batch_after_another(
    gleap: Gleap, store: SQLiteStore
) -> None:
    """Events appended straight to the store (no notify, as by another node) are routed by the router's
    poll, and it goes on routing after a batch: a second event appended later is delivered too."""
    p = pipeline(store, gleap)
    await p.start()
    try:
        store.append([track("a")])
        await until(lambda: gleap.delivered == ["a"])
        store.append([track("b")])
        await until(lambda: gleap.delivered == ["a", "b"])
    finally:
        await p.stop()


async def test_a_route_failure_is_logged_and_routing_tries_again_a_second_later(
    gleap: Gleap, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another connection holds SQLite's write lock, so routing an event fails: it is logged, and the
    router tries again a second later (nothing wakes it sooner: it polls every 30 s), routing the event."""
    store = SQLiteStore(tmp_path / "queue.db", busy_timeout=0.0)
    blocker = sqlite3.connect(tmp_path / "queue.db", isolation_level=None)
    p = pipeline(store, gleap, poll_interval=30.0)
    await p.start()
    try:
        with caplog.at_level(logging.ERROR, logger="gleap_actions.deliver.pipeline"):
            store.append([track("a")])
            blocker.execute("BEGIN IMMEDIATE")
            p.notify()
            await until(lambda: "event=route_failed" in caplog.messages)
            failed = time.monotonic()
            blocker.execute("ROLLBACK")
            await until(lambda: bool(gleap.attempts))
    finally:
        await p.stop()
        blocker.close()
        store.close()
    assert 0.5 < gleap.attempts[0][0] - failed < 1.5  # 1 s, give or take a loaded machine
    assert gleap.delivered == ["a"]
