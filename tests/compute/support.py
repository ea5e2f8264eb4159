"""Helpers for the computer's tests: a store with events appended as ingest would, and a manual clock."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from gleap_actions.audiences import compile_definition
from gleap_actions.config.audiences import Computation
from gleap_actions.queue.store import NewEvent, Store

START = 1_714_550_400.0  # 2024-05-01T08:00:00Z


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def iso(seconds: float) -> str:
    """Unix seconds as an ISO timestamp."""
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def computation(name: str, definition: str, *, kind: str = "audience", key: str | None = None) -> Computation:
    """A configured computation, as the config loader makes it."""
    compiled = compile_definition(definition, kind="audience" if kind == "audience" else "computed_trait")
    return Computation(name, key or name.lower().replace(" ", "_"), compiled, True, key is not None)


def append(store: Store, *events: dict[str, Any], at: float) -> None:
    """Store events as ingest does (each one gets a messageId and `at` as its time when it has none)."""
    rows = []
    for event in events:
        full = {"messageId": str(uuid.uuid4()), "timestamp": iso(at), **event}
        rows.append(NewEvent.from_event(full, source="test", received_at=at, payload=orjson.dumps(full)))
    store.append(rows)


def identifies(store: Store) -> list[dict[str, Any]]:
    """The Engage identify calls appended since the last call (claimed like the router does), oldest first."""
    rows = store.claim_unrouted("test-reader", 100_000, 60.0)
    events = [orjson.loads(row.payload) for row in rows]
    return [e for e in events if e.get("context", {}).get("personas")]
