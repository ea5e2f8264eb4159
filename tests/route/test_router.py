"""The router over a real SQLite store with the product's preset mappings: which mappings an event goes to,
why one goes nowhere, and that the routes are written as deliveries."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from gleap_actions import events
from gleap_actions.compute.identify import SOURCE as COMPUTED_SOURCE
from gleap_actions.config import load_config
from gleap_actions.config.topology import SourceConfig
from gleap_actions.deliver.pipeline import Pipeline
from gleap_actions.ingest.tracking import source_id
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, Route
from gleap_actions.route import Router, RouteResult, Routing, delivery_key, destinations_fed, split_key

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


MULTI = """
sources:
  - {name: web, write_keys: [wk-web], destinations: [prod, eu]}
  - {name: app, write_keys: [wk-app], destinations: [eu]}
destinations:
  - name: prod
    mappings: [{name: Track Event, action: trackEvent, trigger: 'type = "track"'}]
  - name: eu
    mappings:
      - {name: Track Event, action: trackEvent, trigger: 'type = "track"'}
      - {name: Identify Contact, action: identifyContact, trigger: 'type = "identify"'}
  - name: default
    mappings: [{name: Track Event, action: trackEvent, trigger: 'type = "track"'}]
"""


def test_each_source_routes_to_its_destinations_mappings(store: SQLiteStore, tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(MULTI)
    config = load_config(path, env={})
    r = Router(store, Routing.of(config.sources, config.destinations), events.delivery_enabled, owner="t")
    web, app = source_id("wk-web"), source_id("wk-app")
    assert r.decide(TRACK, web) == Route(("prod/Track Event", "eu/Track Event"))
    assert r.decide(TRACK, app) == Route(("eu/Track Event",))
    assert r.decide({**TRACK, "type": "identify"}, web) == Route(("eu/Identify Contact",))
    # Audiences' identifies (the computed source) go to every destination.
    assert r.decide({**TRACK, "type": "identify"}, "audiences") == Route(("eu/Identify Contact",))
    assert r.decide(TRACK, "audiences") == Route(("prod/Track Event", "eu/Track Event", "Track Event"))
    # A key no source has any more (removed from the config since the event was stored): nowhere.
    assert r.decide(TRACK, source_id("wk-old")) == Route((), "unknown_source")
    # The router reads the source stored with each event, as ingest decides it.
    store.append([NewEvent.from_event(TRACK, source=app, received_at=time.time())])
    assert r.route_batch().deliveries == 1
    assert store.due_mappings(time.time()) == {"eu/Track Event": 1}
    # The destination `default` keeps bare mapping names; others are `destination/mapping`.
    assert delivery_key("default", "Track Event") == "Track Event"
    assert split_key("eu/Track Event", ["eu", "prod"]) == ("eu", "Track Event")
    assert split_key("a/b", ["eu"]) == ("default", "a/b")


async def test_a_reload_keeps_routing_events_of_a_removed_write_key(
    store: SQLiteStore, tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(MULTI)
    config = load_config(path, env={})
    pipeline = Pipeline(
        store,
        (),
        config.gleap,
        config.delivery,
        destinations=config.destinations,
        sources=config.sources,
    )
    # `app` (and its key) and the destination `prod` are removed by a reload.
    path.write_text(MULTI.replace("  - {name: app, write_keys: [wk-app], destinations: [eu]}\n", ""))
    fresh = load_config(path, env={})
    await pipeline.reconfigure([d for d in fresh.destinations if d.name != "prod"], fresh.sources)
    try:
        # An event of the removed key still unrouted goes where its source fed: eu, never nowhere.
        assert pipeline.router.decide(TRACK, source_id("wk-app")) == Route(("eu/Track Event",))
        # A source still configured goes to its destinations as configured now.
        assert pipeline.router.decide(TRACK, source_id("wk-web")) == Route(("eu/Track Event",))
        assert sorted(pipeline.lanes) == ["default", "eu"]
    finally:
        await pipeline.stop()


def test_the_destinations_a_users_sources_fed() -> None:
    sources = [
        SourceConfig("web", ("wk-web",), ("prod", "staging")),
        SourceConfig("app", ("wk-app",), ("audit",)),
    ]
    names = ("prod", "staging", "audit", "unfed")
    assert destinations_fed(sources, names, [source_id("wk-app")]) == ("audit",)
    assert destinations_fed(sources, names, [source_id("wk-web"), source_id("wk-app")]) == (
        "prod",
        "staging",
        "audit",
    )
    # Audiences' events went everywhere; unknown sources (past retention, a removed key): every fed one.
    assert destinations_fed(sources, names, [COMPUTED_SOURCE]) == names
    assert destinations_fed(sources, names, []) == ("prod", "staging", "audit")
    assert destinations_fed(sources, names, [source_id("wk-app"), "removed"]) == ("prod", "staging", "audit")
    # The single-source form: any write key's events are the one source's.
    assert destinations_fed(sources[1:], names, ["anything"]) == ("audit",)
