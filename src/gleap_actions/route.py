"""The router: claims unrouted events and records, per event, which mappings will deliver it.

An event goes nowhere when its integrations object turns the destination off, or when no enabled
mapping's trigger matches: both are counted as filtered, not errors. The claim, the decisions and the
`route` write run together in one worker-thread call, so the event loop only waits.

`decide` is the same decision for one event; ingest calls it on a node that also delivers, so the event
is stored already routed (`NewEvent.route`) and this loop only sees events appended without a route
(by an ingest-only node, or before an upgrade).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.store import DEFAULT_LEASE, NewEvent, Route, Store, StoreFullError

log = logging.getLogger(__name__)

_OFF = Route((), "integrations")
_UNMATCHED = Route((), "no_matching_mapping")


@dataclass(frozen=True, slots=True)
class RouteResult:
    """What one routing pass did."""

    claimed: int = 0
    routed: int = 0  # events with at least one delivery
    deliveries: int = 0
    filtered_integrations: int = 0
    filtered_no_match: int = 0

    @classmethod
    def of(cls, routes: Sequence[Route], *, claimed: int = 0) -> RouteResult:
        """The tally of `routes`."""
        routed = deliveries = off = unmatched = 0
        for route in routes:
            if route.mappings:
                routed += 1
                deliveries += len(route.mappings)
            elif route.filtered == _OFF.filtered:
                off += 1
            else:
                unmatched += 1
        return cls(claimed, routed, deliveries, off, unmatched)

    @classmethod
    def of_appended(cls, events: Sequence[NewEvent], accepted: Sequence[bool]) -> RouteResult:
        """The tally of the routes decided at ingest for the events `append` kept."""
        return cls.of(
            [e.route for e, kept in zip(events, accepted, strict=True) if kept and e.route is not None]
        )


class Router:
    """Fans events out to mappings. `route_batch` is synchronous (run it in a worker thread)."""

    def __init__(
        self,
        store: Store,
        subscriptions: Sequence[Subscription],
        delivery_enabled: Callable[[Mapping[str, Any]], bool],
        *,
        owner: str,
        batch: int = 5000,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        self._store = store
        self._subscriptions = [s for s in subscriptions if s.enabled]
        self._delivery_enabled = delivery_enabled
        self._owner = owner
        self._batch = batch
        self._lease = lease
        # Routes decided but refused by the store (a full disk): written first on the next call, so the
        # claimed events do not wait for their lease to end.
        self._unwritten: tuple[list[tuple[int, list[str]]], RouteResult] | None = None

    def route_batch(self) -> RouteResult:
        """Claim up to `batch` unrouted events, decide their mappings and record the routes."""
        if self._unwritten is not None:
            unwritten, decided = self._unwritten
            self._store.route(unwritten)
            self._unwritten = None
            return decided
        events = self._store.claim_unrouted(self._owner, self._batch, self._lease)
        if not events:
            return RouteResult()
        routes = [self._decide_stored(stored.id, stored.payload) for stored in events]
        pairs = [(stored.id, list(route.mappings)) for stored, route in zip(events, routes, strict=True)]
        result = RouteResult.of(routes, claimed=len(events))
        try:
            self._store.route(pairs)
        except StoreFullError:
            self._unwritten = (pairs, result)
            raise
        return result

    def decide(self, event: dict[str, Any]) -> Route:
        """The mappings whose trigger matches `event`, or why none does."""
        if not self._delivery_enabled(event):
            return _OFF
        names = []
        for sub in self._subscriptions:
            try:
                if sub.matches(event):
                    names.append(sub.name)
            except Exception:
                log.exception(
                    "event=trigger_failed mapping=%s message_id=%s", sub.name, event.get("messageId")
                )
        return Route(tuple(names)) if names else _UNMATCHED

    def _decide_stored(self, event_id: int, payload: bytes) -> Route:
        """`decide` for a stored event."""
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            # Ingest stores only valid JSON; a corrupt row must not stop routing for everyone.
            log.error("event=route_unreadable_payload event_id=%d", event_id)
            return _UNMATCHED
        return self.decide(event)
