"""Several sources and Gleap projects in one `serve` process, against two sandboxes (two Gleap accounts).

Sources `web` and `app`; destinations `prod` (sandbox A), `staging` and `audit` (both sandbox B, told apart
by audit's event names). Each event goes exactly where its source's destinations say; one destination in
outage never holds another back; a reload adds a destination and changes a mapping under load with
nothing lost or sent twice; a user deletion reaches the projects it should.
"""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gleap_actions.destinations.gleap.actions import TRACK_EVENT
from gleap_actions.sandbox import Faults, SandboxThread

from .harness import ADMIN_TOKEN, Client, Load, ServeProcess, free_port, wait_until

TOKEN_A = "gleap-dest-token-a-51c0e9"
TOKEN_B = "gleap-dest-token-b-7a42d3"
WEB_KEY = "wk-dest-web-0c9f21"
APP_KEY = "wk-dest-app-e83b6d"


def _track(name: str, template: str | None = None) -> dict[str, Any]:
    mapping: dict[str, Any] = {
        "name": name,
        "action": "trackEvent",
        "trigger": 'type = "track"',
        "batching": {"enabled": True, "size": 50},
    }
    if template is not None:
        mapping["mapping"] = {**TRACK_EVENT.default_mapping, "eventName": {"@template": template}}
    return mapping


def _destination(name: str, sandbox: SandboxThread, token: str, *mappings: dict[str, Any]) -> dict[str, Any]:
    identify = {"name": "Identify Contact", "action": "identifyContact", "trigger": 'type = "identify"'}
    return {
        "name": name,
        "gleap": {"api_token": token, "base_url": sandbox.url, "timeout": 2},
        "delivery": {"linger": 0.05, "initial_backoff": 0.1, "max_backoff": 0.5, "retry_window": 600},
        "mappings": [*mappings, identify],
    }


def _write(path: Path, port: int, destinations: list[dict[str, Any]], sources: list[dict[str, Any]]) -> None:
    document = {
        "server": {"host": "127.0.0.1", "port": port, "admin_token": ADMIN_TOKEN},
        "storage": {"data_dir": str(path.parent / "data")},
        "sources": sources,
        "destinations": destinations,
    }
    path.write_text(yaml.safe_dump(document))


@pytest.fixture
def sandboxes() -> Iterator[tuple[SandboxThread, SandboxThread]]:
    with (
        SandboxThread(api_token=TOKEN_A, faults=Faults(rate_limit=None)) as a,
        SandboxThread(api_token=TOKEN_B, faults=Faults(rate_limit=None)) as b,
    ):
        yield a, b


def _names(sandbox: SandboxThread) -> Counter[str]:
    return Counter(event["name"] for event in sandbox.state.events())


def _seqs(sandbox: SandboxThread, prefix: str = "") -> Counter[int]:
    """How many times each load sequence number arrived under an event name starting with `prefix`."""
    return Counter(
        event["data"]["seq"]
        for event in sandbox.state.events()
        if event["name"].startswith(prefix) and "seq" in event.get("data", {})
    )


def test_two_sources_three_destinations_route_deliver_and_delete(
    sandboxes: tuple[SandboxThread, SandboxThread], tmp_path: Path
) -> None:
    a, b = sandboxes
    config = tmp_path / "gleap-actions.yaml"
    destinations = [
        _destination("prod", a, TOKEN_A, _track("Track Event")),
        _destination("staging", b, TOKEN_B, _track("Track Event")),
        _destination("audit", b, TOKEN_B, _track("Audit", "audit:{{event}}")),
    ]
    sources = [
        {"name": "web", "write_keys": [WEB_KEY], "destinations": ["prod", "staging"]},
        {"name": "app", "write_keys": [APP_KEY], "destinations": ["audit"]},
    ]
    port = free_port()
    _write(config, port, destinations, sources)
    serve = ServeProcess(config, tmp_path / "serve.log").start()
    try:
        client = Client(serve.url)
        assert client.post("/v1/track", {"userId": "w1", "event": "Web"}, key=WEB_KEY)[0] == 200
        assert client.post("/v1/track", {"userId": "p1", "event": "App"}, key=APP_KEY)[0] == 200
        assert client.post("/v1/track", {"userId": "x", "event": "Nope"}, key="unknown-key")[0] == 401
        wait_until(lambda: _names(a) == {"Web": 1} and _names(b) == {"Web": 1, "audit:App": 1}, 30, "routed")
        wait_until(client.queue_empty, 30, "queue drained")
        status, stats = client.admin("GET", "/admin/stats")
        assert status == 200 and sorted(stats["destinations"]) == ["audit", "prod", "staging"]
        assert stats["unconfigured"] == {}

        # prod in outage: staging delivers meanwhile; prod catches up once it recovers, nothing twice.
        a.set_faults(error_rate=1.0, error_status=503)
        for n in range(20):
            assert client.post("/v1/track", {"userId": "w2", "event": f"O{n}"}, key=WEB_KEY)[0] == 200
        wait_until(lambda: sum(_names(b)[f"O{n}"] for n in range(20)) == 20, 30, "staging delivered")
        assert sum(_names(a)[f"O{n}"] for n in range(20)) == 0
        a.set_faults(error_rate=0.0)
        wait_until(lambda: sum(_names(a)[f"O{n}"] for n in range(20)) == 20, 30, "prod caught up")
        assert a.state.duplicate_count() == 0 and b.state.duplicate_count() == 0

        # Deletion: a web user is deleted in prod and staging (the projects its source feeds), or where told.
        for user in ("d1", "d2"):
            assert client.post("/v1/identify", {"userId": user, "traits": {"n": 1}}, key=WEB_KEY)[0] == 200
        wait_until(lambda: all(s.state.contact(u) for s in (a, b) for u in ("d1", "d2")), 30, "contacts")
        status, result = client.admin("POST", "/admin/users/d1/delete")
        assert status == 200 and list(result["destinations"]) == ["prod", "staging"]
        assert a.state.contact("d1") is None and b.state.contact("d1") is None
        status, result = client.admin("POST", "/admin/users/d2/delete?destination=prod")
        assert status == 200 and list(result["destinations"]) == ["prod"]
        assert a.state.contact("d2") is None and b.state.contact("d2") is not None
        # An app user is deleted in audit's project only: prod's contact of the same id is someone else's.
        assert client.post("/v1/identify", {"userId": "p3", "traits": {"n": 1}}, key=APP_KEY)[0] == 200
        wait_until(lambda: b.state.contact("p3") is not None, 30, "app contact")
        a.state.identify("p3", {})
        status, result = client.admin("POST", "/admin/users/p3/delete")
        assert status == 200 and list(result["destinations"]) == ["audit"]
        assert b.state.contact("p3") is None and a.state.contact("p3") is not None

        # Preview per destination.
        event = {"type": "track", "userId": "p", "event": "Seen", "messageId": "pv"}
        status, body = client.admin("POST", "/admin/preview?destination=audit", event)
        assert status == 200 and body["results"][0]["body"]["events"][0]["name"] == "audit:Seen"
        assert client.admin("POST", "/admin/preview?destination=nope", event)[0] == 400

        # audit removed while its project is down: its queued event is reported and kept, then discarded.
        b.set_faults(error_rate=1.0, error_status=503)
        assert client.post("/v1/track", {"userId": "p2", "event": "Kept"}, key=APP_KEY)[0] == 200
        wait_until(lambda: b.state.request_count("track") > 0 and not client.queue_empty(), 30, "queued")
        _write(config, port, destinations[:2], [sources[0], {**sources[1], "destinations": ["prod"]}])
        status, result = client.admin("POST", "/admin/reload")
        assert status == 200 and result["unconfigured"] == {"audit/Audit": 1}
        assert client.admin("GET", "/admin/stats")[1]["unconfigured"]["audit/Audit"]["pending"] == 1
        status, result = client.admin("POST", "/admin/deliveries/discard", {"mapping": "audit/Audit"})
        assert (status, result) == (200, {"discarded": 1})
        assert [d["mapping"] for d in client.dead_letters()] == ["audit/Audit"]
        b.set_faults(error_rate=0.0)
        assert client.admin("POST", "/admin/deliveries/discard", {"mapping": "prod/Track Event"})[0] == 409
    finally:
        serve.stop()


def test_reload_adds_a_destination_and_changes_a_mapping_under_load(
    sandboxes: tuple[SandboxThread, SandboxThread], tmp_path: Path
) -> None:
    a, b = sandboxes
    config = tmp_path / "gleap-actions.yaml"
    port = free_port()
    web = {"name": "web", "write_keys": [WEB_KEY], "destinations": ["prod", "staging"]}
    before = [
        _destination("prod", a, TOKEN_A, _track("Track Event")),
        _destination("staging", b, TOKEN_B, _track("Track Event", "v1:{{event}}")),
    ]
    _write(config, port, before, [web])
    serve = ServeProcess(config, tmp_path / "serve.log").start()
    try:
        client = Client(serve.url)
        load = Load(serve.url, events=3000, batch=20, rate=600, key=WEB_KEY).start()
        wait_until(lambda: len(load.accepted) >= 600, 60, "load under way")
        after = [
            before[0],
            _destination("staging", b, TOKEN_B, _track("Track Event", "v2:{{event}}")),
            _destination("audit", a, TOKEN_A, _track("Audit", "audit:{{event}}")),
        ]
        assert client.post("/v1/track", {"userId": "n", "event": "New"}, key=APP_KEY)[0] == 401
        app = {"name": "app", "write_keys": [APP_KEY], "destinations": ["audit"]}
        _write(config, port, after, [{**web, "destinations": ["prod", "staging", "audit"]}, app])
        assert serve.process is not None
        serve.process.send_signal(signal.SIGHUP)
        load.wait(120)
        assert load.done and load.accepted
        wait_until(client.queue_empty, 60, "queue drained")
        accepted = Counter(load.accepted)
        # prod: every accepted event exactly once.
        assert _seqs(a, "Reliability") == accepted
        # staging: every accepted event exactly once, under the old mapping or the new one; both seen.
        staging = _seqs(b, "v1:") + _seqs(b, "v2:")
        assert staging == accepted
        assert _seqs(b, "v1:") and _seqs(b, "v2:")
        # audit: only events routed after the reload, each once; the last events all reached it.
        audit = _seqs(a, "audit:")
        assert audit and set(audit.values()) == {1} and set(audit) <= set(accepted)
        assert max(accepted) in audit
        assert client.dead_letters() == []
        assert "event=config_reloaded" in serve.log_text()
        # The new source's write key is accepted from the reload on.
        assert client.request("GET", f"/v1/projects/{APP_KEY}/settings")[0] == 200
        assert client.post("/v1/track", {"userId": "n", "event": "New"}, key=APP_KEY)[0] == 200
        wait_until(lambda: _names(a)["audit:New"] == 1, 30, "the new source delivered")
    finally:
        serve.stop()
