"""A destination that refuses large bodies (413): batches are split and the size is learned, only an event
too large on its own is dead-lettered. Real pipeline, real SQLite file, the sandbox's `max_body_bytes`."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from pipeline_support import fast

from gleap_actions import events
from gleap_actions.deliver.pipeline import Pipeline
from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent
from gleap_actions.sandbox import SandboxThread

TOKEN = "sandbox-secret-413"
LIMIT = 12_000  # bytes the sandbox accepts in one body


@pytest.fixture
def sandbox_token() -> str:
    return TOKEN


def track(name: str, padding: int = 400) -> NewEvent:
    raw: dict[str, Any] = {
        "type": "track",
        "event": name,
        "userId": "u1",
        "properties": {"pad": "x" * padding},
    }
    event = events.normalize(raw, "track", received_at=time.time())
    return NewEvent("src", event["messageId"], "u1", "track", time.time(), orjson.dumps(event))


async def deliver(store: SQLiteStore, sandbox: SandboxThread, *rounds: list[NewEvent]) -> list[int]:
    """One pipeline with one batching track mapping (100 events a batch): append each round of events and
    drain the queue; the number of requests the sandbox had seen after each round."""
    sub = Subscription.compile(
        "Track", ACTIONS["trackEvent"], 'type = "track"', batching=True, batch_size=100
    )
    p = Pipeline(store, [sub], GleapSettings(TOKEN, sandbox.url, timeout=2.0), fast())
    seen = []
    await p.start()
    try:
        for batch in rounds:
            store.append(batch)
            p.notify()
            await p.drain(30)
            seen.append(len(sandbox.state.requests()))
    finally:
        await p.stop()
    return seen


def statuses(sandbox: SandboxThread) -> list[int | None]:
    return [r.status for r in sorted(sandbox.state.requests(), key=lambda r: r.seq)]


async def test_a_batch_over_the_body_limit_is_delivered_in_smaller_requests(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    sandbox.set_faults(max_body_bytes=LIMIT)
    first = [track(f"a{i:03}") for i in range(100)]  # one batch of about 50 kB
    second = [track(f"b{i:03}") for i in range(100)]
    [after_first, _] = await deliver(store, sandbox, first, second)
    expected = sorted([f"a{i:03}" for i in range(100)] + [f"b{i:03}" for i in range(100)])
    assert sorted(e["name"] for e in sandbox.state.events()) == expected
    assert store.list_dead_letters() == []
    answers = statuses(sandbox)
    assert answers[0] == 413 and all(
        r.status is None or len(r.body) <= LIMIT for r in sandbox.state.requests() if r.status == 200
    )
    # The size was learned: the next batch of the mapping is planned small enough at once.
    assert 413 not in answers[after_first:] and answers[after_first:].count(200) >= 5


async def test_an_event_too_large_alone_is_dead_lettered_and_its_batch_mates_delivered(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    sandbox.set_faults(max_body_bytes=LIMIT)
    batch = (
        [track(f"s{i}") for i in range(5)]
        + [track("huge", padding=2 * LIMIT)]
        + [track(f"t{i}") for i in range(5)]
    )
    await deliver(store, sandbox, batch)
    assert sorted(e["name"] for e in sandbox.state.events()) == sorted(
        [f"s{i}" for i in range(5)] + [f"t{i}" for i in range(5)]
    )
    [dead] = store.list_dead_letters()
    assert orjson.loads(dead.payload)["event"] == "huge" and dead.status == 413
    # One reason for every such event (summaries group dead letters by reason); the size is in the request.
    assert dead.reason == "event too large: refused even alone (HTTP 413: 413 Request Entity Too Large)"
    assert orjson.loads(dead.response)["status"] == 413
