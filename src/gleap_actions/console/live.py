"""Live events: a bounded ring of the events this process accepted recently, and what became of them.

Fed by ingest (each committed event with the route decided for it) and by delivery (each request's
outcome: the redacted Gleap request and the response). Holds the last `size` events (default 500) of
this process only, in memory: nothing is read from the store, so watching costs the same with any
backlog, and a restart or another node's traffic is not shown. Deliveries of events no longer in the
ring (retries, replays) add the event back from the delivery's own copy. Payloads are parsed only
when shown. The admin token and the Gleap token never reach it: ingest drops `writeKey`, and requests
arrive redacted.
"""

from __future__ import annotations

import itertools
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from gleap_actions.deliver.record import Exchange
from gleap_actions.queue.store import NewEvent, Route


@dataclass(slots=True)
class Outcome:
    """The latest thing that happened to an event under one mapping."""

    outcome: str  # delivered, retrying, dead_lettered, rejected, paused
    request: str  # redacted JSON, "" when none was built
    status: int | None
    response: str
    at: float


@dataclass(slots=True)
class LiveEvent:
    """One recent event."""

    seq: int
    received_at: float
    message_id: str
    type: str
    user_id: str | None
    payload: bytes
    route: Route | None  # None: decided later by the router (not known here)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    _event: dict[str, Any] | None = None

    @property
    def event(self) -> dict[str, Any]:
        """The event (parsed on first use)."""
        if self._event is None:
            self._event = orjson.loads(self.payload)
        return self._event

    @property
    def name(self) -> str:
        """The track event's name, or the page/screen name, or ""."""
        value = self.event.get("event") or self.event.get("name") or ""
        return value if isinstance(value, str) else ""


class LiveEvents:
    """The ring. Its methods run on the event loop (ingest and delivery call them there)."""

    def __init__(self, size: int = 500, *, decide: Callable[[dict[str, Any]], Route] | None = None) -> None:
        self._size = size
        self.decide = decide  # the router's decision, for events stored without a route
        self._events: OrderedDict[str, LiveEvent] = OrderedDict()  # by message id, oldest first
        self._seq = itertools.count(1)

    def committed(self, events: Sequence[NewEvent], accepted: Sequence[bool]) -> None:
        """Ingest committed `events` (`accepted`: False for a duplicate, which is not shown)."""
        for event, kept in zip(events, accepted, strict=True):
            if kept:
                self._add(
                    event.message_id, event.received_at, event.type, event.user_id, event.payload, event.route
                )

    def observe(self, exchange: Exchange) -> None:
        """A request's outcome reached delivery's recorder."""
        now = time.time()
        for event in exchange.events:
            message_id = event.get("messageId")
            if not isinstance(message_id, str):
                continue
            live = self._events.get(message_id)
            if live is None:
                user_id = event.get("userId")
                live = self._add(
                    message_id,
                    now,
                    str(event.get("type", "")),
                    user_id if isinstance(user_id, str) else None,
                    orjson.dumps(event),
                    None,
                )
            live.outcomes[exchange.mapping] = Outcome(
                exchange.outcome, exchange.request, exchange.status, exchange.response, now
            )

    def _add(
        self,
        message_id: str,
        received_at: float,
        type_: str,
        user_id: str | None,
        payload: bytes,
        route: Route | None,
    ) -> LiveEvent:
        self._events.pop(message_id, None)
        live = LiveEvent(next(self._seq), received_at, message_id, type_, user_id, payload, route)
        self._events[message_id] = live
        while len(self._events) > self._size:
            self._events.popitem(last=False)
        return live

    def route_of(self, live: LiveEvent) -> Route | None:
        """The event's route: as decided at ingest, else decided now with the running mappings."""
        if live.route is None and self.decide is not None:
            live.route = self.decide(live.event)
        return live.route

    def recent(
        self,
        *,
        type_: str = "",
        name: str = "",
        user_id: str = "",
        limit: int = 100,
    ) -> list[LiveEvent]:
        """The newest events first, matching every filter given (exact type, name and user id)."""
        out: list[LiveEvent] = []
        for live in reversed(self._events.values()):
            if type_ and live.type != type_:
                continue
            if user_id and live.user_id != user_id:
                continue
            if name and live.name != name:
                continue
            out.append(live)
            if len(out) >= limit:
                break
        return out

    def get(self, seq: int) -> LiveEvent | None:
        """The event with sequence number `seq`, if still in the ring."""
        return next((e for e in self._events.values() if e.seq == seq), None)

    def find(self, message_id: str) -> LiveEvent | None:
        """The event with `message_id`, if still in the ring."""
        return self._events.get(message_id)
