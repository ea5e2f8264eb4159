"""Identify coalescing and per-user order in the pipeline: a real SQLite file, the real client, the sandbox.

One user's waiting identifies become one merged request, and the delivery state, dead letters and
metrics stay per event; without coalescing, the requests of one user still go out one after another in
event order, and a user whose request is to be retried holds back only its own later events.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from pipeline_support import fast, metric

from gleap_actions import events
from gleap_actions.deliver.pipeline import Pipeline
from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, Route
from gleap_actions.sandbox import SandboxThread

TOKEN = "sandbox-secret-15"
MAPPING = "Identify Contact"
T0 = time.time() - 600


@pytest.fixture
def sandbox_token() -> str:
    return TOKEN


def identify(user: str, step: int, **traits: Any) -> NewEvent:
    """The user's `step`-th identify, `step` seconds after T0, routed to the identify mapping."""
    at = datetime.fromtimestamp(T0 + step, UTC).isoformat().replace("+00:00", "Z")
    raw = {"type": "identify", "userId": user, "timestamp": at, "traits": {"step": step, **traits}}
    event = events.normalize(raw, "identify", received_at=time.time(), live=False)
    return NewEvent.from_event(event, source="src", received_at=time.time(), route=Route((MAPPING,)))


def pipeline(store: SQLiteStore, sandbox: SandboxThread, *, coalesce: bool, **delivery: Any) -> Pipeline:
    subscription = Subscription.compile(MAPPING, ACTIONS["identifyContact"], coalesce=coalesce)
    settings = GleapSettings(TOKEN, sandbox.url, timeout=2.0)
    return Pipeline(store, [subscription], settings, fast(**delivery))


async def run_to_empty(p: Pipeline, timeout: float = 30.0) -> None:
    await p.start()
    try:
        await p.drain(timeout)
    finally:
        await p.stop()


def steps(sandbox: SandboxThread, user: str) -> list[int]:
    """The `step` of each identify applied to the user's contact, in arrival order."""
    return [body["step"] for body in sandbox.state.identifies(user)]


async def test_one_users_waiting_identifies_become_one_request(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    # Arrival order is not event order: the contact must end with the latest event's values.
    store.append([identify("u1", 3, plan="pro"), identify("u1", 0, email="a@x.io", plan="free")])
    store.append([identify("u1", 1, plan="team"), identify("u2", 0, plan="free"), identify("u1", 2)])
    p = pipeline(store, sandbox, coalesce=True)
    await run_to_empty(p)
    assert sandbox.state.identify_counts() == {"u1": 1, "u2": 1}
    contact = sandbox.state.contact("u1")
    assert contact is not None
    assert (contact["email"], contact["plan"], contact["step"]) == ("a@x.io", "pro", 3)
    assert contact["lastActivity"] == datetime.fromtimestamp(T0 + 3, UTC).isoformat(
        timespec="milliseconds"
    ).replace("+00:00", "Z")
    # Delivery state and metrics count events, not requests.
    assert metric(p, "gleap_actions_delivered_total", mapping=MAPPING) == 5
    assert store.stats(time.time()).pending == 0


async def test_without_coalescing_one_users_requests_go_in_event_order(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    arrival = [5, 1, 7, 0, 3, 6, 2, 4]
    store.append([identify("u1", step) for step in arrival])
    await run_to_empty(pipeline(store, sandbox, coalesce=False, max_concurrency=8))
    assert steps(sandbox, "u1") == list(range(8))


async def test_a_refused_merged_request_is_split_and_dead_lettered_per_event(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    sandbox.set_faults(user_errors={"bad": 400})
    store.append([identify("bad", step) for step in range(4)] + [identify("good", 0)])
    p = pipeline(store, sandbox, coalesce=True)
    await run_to_empty(p)
    letters = store.list_dead_letters()
    assert sorted(orjson.loads(letter.payload)["traits"]["step"] for letter in letters) == [0, 1, 2, 3]
    assert all(letter.status == 400 for letter in letters)
    assert sandbox.state.contact("good") is not None
    assert metric(p, "gleap_actions_dead_lettered_total", mapping=MAPPING) == 4


async def test_a_retried_request_holds_back_only_its_users_later_events(
    store: SQLiteStore, sandbox: SandboxThread
) -> None:
    sandbox.set_faults(user_errors={"slow": 503})
    store.append(
        [identify("slow", step) for step in range(3)] + [identify("fine", step) for step in range(3)]
    )
    p = pipeline(store, sandbox, coalesce=False, max_concurrency=8)
    await p.start()
    try:
        deadline = time.monotonic() + 30
        while steps(sandbox, "fine") != [0, 1, 2]:
            assert time.monotonic() < deadline, steps(sandbox, "fine")
            await asyncio.sleep(0.05)
        sandbox.set_faults(user_errors={})
        await p.drain(30)
    finally:
        await p.stop()
    # Each of slow's requests was refused until the fault was lifted; the later ones never went first.
    assert steps(sandbox, "slow") == [0, 1, 2]
    log = sandbox.state.requests(endpoint="identify")
    attempts = [r.json_body()["step"] for r in log if r.json_body()["userId"] == "slow"]
    assert attempts == sorted(attempts), attempts
