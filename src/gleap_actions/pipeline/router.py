"""The router: claims unrouted events and records, per event, which mappings will deliver it.

An event goes nowhere when its integrations object turns the destination off, or when no enabled
mapping's trigger matches: both are counted as filtered, not errors. The claim, the decisions and the
`route` write run together in one worker-thread call, so the event loop only waits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gleap_actions.engine.subscription import Subscription
from gleap_actions.pipeline.store import Store, StoreFullError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RouteResult:
    """What one routing pass did."""

    claimed: int = 0
    routed: int = 0  # events with at least one delivery
    deliveries: int = 0
    filtered_integrations: int = 0
    filtered_no_match: int = 0


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
        lease: float = 60.0,
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
        routes: list[tuple[int, list[str]]] = []
        routed = deliveries = off = unmatched = 0
        for stored in events:
            names = self._mappings_for(stored.id, stored.payload)
            if names is None:
                off += 1
                names = []
            elif not names:
                unmatched += 1
            else:
                routed += 1
                deliveries += len(names)
            routes.append((stored.id, names))
        result = RouteResult(len(events), routed, deliveries, off, unmatched)
        try:
            self._store.route(routes)
        except StoreFullError:
            self._unwritten = (routes, result)
            raise
        return result

    def _mappings_for(self, event_id: int, payload: bytes) -> list[str] | None:
        """The mappings whose trigger matches; None when the integrations object says no."""
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            # Ingest stores only valid JSON; a corrupt row must not stop routing for everyone.
            log.error("event=route_unreadable_payload event_id=%d", event_id)
            return []
        if not self._delivery_enabled(event):
            return None
        names = []
        for sub in self._subscriptions:
            try:
                if sub.matches(event):
                    names.append(sub.name)
            except Exception:
                log.exception("event=trigger_failed mapping=%s event_id=%d", sub.name, event_id)
        return names
