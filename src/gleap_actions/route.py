"""The router: claims unrouted events and records, per event, which mappings will deliver it.

Each event goes to the destinations of its source (known from its write key's id, `NewEvent.source`), and
within each destination to the mappings whose trigger matches. A delivery is keyed by (destination,
mapping), stored as one key (`delivery_key`): the mapping's name for the destination `default` (so a queue
written before there were several destinations keeps its meaning), `destination/mapping` otherwise
(destination names hold no `/`).

An event goes nowhere when its integrations object turns the destination off, or when no enabled
mapping's trigger matches: both are counted as filtered, not errors. The claim, the decisions and the
`route` write run together in one worker-thread call, so the event loop only waits.

`decide` is the same decision for one event; ingest calls it on a node that also delivers, so the event
is stored already routed (`NewEvent.route`) and this loop only sees events appended without a route
(by an ingest-only node, or before an upgrade).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gleap_actions.compute.identify import SOURCE as COMPUTED_SOURCE
from gleap_actions.config.topology import DEFAULT, DestinationConfig, SourceConfig
from gleap_actions.engine.subscription import Subscription
from gleap_actions.ingest.tracking import source_id
from gleap_actions.queue.store import DEFAULT_LEASE, NewEvent, Route, Store, StoreFullError

log = logging.getLogger(__name__)

_OFF = Route((), "integrations")
_UNMATCHED = Route((), "no_matching_mapping")
_UNKNOWN_SOURCE = Route((), "unknown_source")


def delivery_key(destination: str, mapping: str) -> str:
    """The stored key of the deliveries of `mapping` in `destination`."""
    return mapping if destination == DEFAULT else f"{destination}/{mapping}"


def split_key(key: str, destinations: Iterable[str]) -> tuple[str, str]:
    """(destination, mapping) of a stored delivery key, given the destination names to recognise
    (a key with none of them as its prefix is the `default` destination's)."""
    prefix, slash, rest = key.partition("/")
    if slash and prefix != DEFAULT and prefix in set(destinations):
        return prefix, rest
    return DEFAULT, key


def destinations_fed(
    sources: Sequence[SourceConfig], destinations: Sequence[str], source_ids: Iterable[str]
) -> tuple[str, ...]:
    """The destinations (of `destinations`, in their order) the events of `source_ids` were routed to.
    Every destination a source feeds when the sources cannot tell: no source id known (the user's events
    are past retention), or one no configured source has (a write key since removed). Computed events
    (audiences) go to every destination, as routing sends them."""
    fed = {name for source in sources for name in source.destinations}
    everywhere = tuple(name for name in destinations if name in fed)
    ids = set(source_ids)
    by_id = {source_id(key): source.destinations for source in sources for key in source.write_keys}
    chosen: set[str] = set()
    for sid in ids:
        if sid == COMPUTED_SOURCE:
            chosen.update(destinations)
        elif sid in by_id:
            chosen.update(by_id[sid])
        elif len(sources) == 1:  # the single-source form: every write key's events are its own
            chosen.update(sources[0].destinations)
        else:
            return everywhere
    return tuple(name for name in destinations if name in chosen) if ids else everywhere


Targets = tuple[tuple[str, Subscription], ...]  # (delivery key, enabled subscription)


@dataclass(frozen=True, slots=True)
class Routing:
    """What each source's events may go to, compiled once per configuration (`reload` swaps it)."""

    by_source: Mapping[str, Targets]  # source id (`ingest.tracking.source_id`) -> targets
    fallback: Targets | None  # events of a source id no source has (only with a single source)

    @classmethod
    def single(cls, subscriptions: Sequence[Subscription]) -> Routing:
        """Every event to `subscriptions` (one source, the destination `default`)."""
        return cls({}, tuple((s.name, s) for s in subscriptions if s.enabled))

    @classmethod
    def of(cls, sources: Sequence[SourceConfig], destinations: Sequence[DestinationConfig]) -> Routing:
        """The routing of a configuration: each source to its destinations' enabled mappings."""
        by_name = {d.name: d for d in destinations}

        def targets(source: SourceConfig) -> Targets:
            return tuple(
                (delivery_key(name, s.name), s)
                for name in source.destinations
                if name in by_name
                for s in by_name[name].subscriptions
                if s.enabled
            )

        by_source = {source_id(key): targets(src) for src in sources for key in src.write_keys}
        # Audiences and computed traits (Engage identifies) are the workspace's: every destination's.
        everywhere = SourceConfig(COMPUTED_SOURCE, (), tuple(by_name))
        by_source.setdefault(COMPUTED_SOURCE, targets(everywhere))
        # With one source (the single-destination form), an event of any write key is its own.
        fallback = targets(sources[0]) if len(sources) == 1 else None
        return cls(by_source, fallback)


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
        routing: Routing | Sequence[Subscription],
        delivery_enabled: Callable[[Mapping[str, Any]], bool],
        *,
        owner: str,
        batch: int = 5000,
        lease: float = DEFAULT_LEASE,
    ) -> None:
        self._store = store
        # A plain list of subscriptions: the single-destination routing.
        self.routing = routing if isinstance(routing, Routing) else Routing.single(routing)
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
        routes = [self._decide_stored(stored.id, stored.payload, stored.source) for stored in events]
        pairs = [(stored.id, list(route.mappings)) for stored, route in zip(events, routes, strict=True)]
        result = RouteResult.of(routes, claimed=len(events))
        try:
            self._store.route(pairs)
        except StoreFullError:
            self._unwritten = (pairs, result)
            raise
        return result

    def decide(self, event: dict[str, Any], source: str = "") -> Route:
        """The delivery keys of the mappings, among those of the destinations `source` (a source id)
        feeds, whose trigger matches `event`, or why none does."""
        if not self._delivery_enabled(event):
            return _OFF
        routing = self.routing
        targets = routing.by_source.get(source, routing.fallback)
        if targets is None:
            return _UNKNOWN_SOURCE
        keys = []
        for key, sub in targets:
            try:
                if sub.matches(event):
                    keys.append(key)
            except Exception:
                log.exception("event=trigger_failed mapping=%s message_id=%s", key, event.get("messageId"))
        return Route(tuple(keys)) if keys else _UNMATCHED

    def _decide_stored(self, event_id: int, payload: bytes, source: str) -> Route:
        """`decide` for a stored event."""
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            # Ingest stores only valid JSON; a corrupt row must not stop routing for everyone.
            log.error("event=route_unreadable_payload event_id=%d", event_id)
            return _UNMATCHED
        return self.decide(event, source)
