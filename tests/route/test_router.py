"""The router over a real SQLite store with the product's preset mappings: which mappings an event goes to,
why one goes nowhere, and that the routes are written as deliveries."""

from __future__ import annotations

import time
from typing import Any

import orjson

from gleap_actions import events
from gleap_actions.config import load_config
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, Route
from gleap_actions.route import Router, RouteResult

TRACK = {"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "m1"}


def router(store: SQLiteStore) -> Router:
    subscriptions = load_config(None, env={}).subscriptions
    return Router(store, subscriptions, events.delivery_enabled, owner="test")


def stored(event: dict[str, Any]) -> NewEvent:
    return NewEvent.from_event(event, source="s", received_at=time.time())


def test_decide_names_the_matching_mappings_or_why_none(store: SQLiteStore) -> None:
    r = router(store)
    assert r.decide(TRACK) == Route(("Track Event",))
    assert r.decide({**TRACK, "integrations": {"All": False}}) == Route((), "integrations")
    assert r.decide({**TRACK, "type": "alias", "previousId": "x"}) == Route((), "no_matching_mapping")


def test_route_batch_writes_one_delivery_per_mapping(store: SQLiteStore) -> None:
    r = router(store)
    off = {**TRACK, "messageId": "m2", "integrations": {"All": False}}
    store.append([stored(TRACK), stored(off)])
    result = r.route_batch()
    assert result == RouteResult(claimed=2, routed=1, deliveries=1, filtered_integrations=1)
    [delivery] = store.claim_deliveries("test", "Track Event", 10, 60.0, time.time())
    assert orjson.loads(delivery.payload)["messageId"] == "m1"
    assert r.route_batch() == RouteResult()  # nothing left unrouted
