"""Errors that outlast retrying: an expired retry window dead-letters with the last error and replay
delivers once Gleap recovers; an invalid token pauses delivery (alert, no dead letters) until reload."""

from __future__ import annotations

from pathlib import Path

import yaml

from gleap_actions.sandbox import SandboxThread

from .conftest import StartServe
from .harness import SECRETS, TOKEN, Client, Load, assert_no_secrets, reconcile, record, wait_until

EVENTS = 400


def test_expired_retry_window_dead_letters_then_replay_delivers(
    sandbox: SandboxThread, serve: StartServe
) -> None:
    sandbox.set_faults(error_rate=1.0, error_status=503)
    service = serve(sandbox.url, retry_window=1.5, initial_backoff=0.2, max_backoff=0.5)
    client = Client(service.url)
    load = Load(service.url, EVENTS).start()
    load.wait(60)
    assert len(load.accepted) == EVENTS
    wait_until(
        lambda: client.admin("GET", "/admin/stats")[1]["dead_letters"] == EVENTS, 60, "all dead-lettered"
    )
    letters = client.dead_letters()
    assert all("retry window expired" in d["reason"] and "HTTP 503" in d["reason"] for d in letters)
    assert all(d["status"] == 503 and d["attempts"] >= 2 for d in letters)
    assert reconcile(load, sandbox.state, letters).dead_lettered == EVENTS

    sandbox.set_faults(error_rate=0.0)
    status, replayed = client.admin("POST", "/admin/dead-letters/replay", {"all": True})
    assert (status, replayed["replayed"]) == (200, EVENTS)
    wait_until(client.queue_empty, 60, "replayed events delivered")
    report = reconcile(load, sandbox.state, client.dead_letters())
    record("retry window expiry + replay", report, dead_lettered_before_replay=len(letters))
    assert (report.delivered, report.lost, report.dead_lettered, report.duplicates) == (EVENTS, 0, 0, 0)
    assert_no_secrets([service.log_text(), client.metrics(), *client.seen])


def test_invalid_token_pauses_and_alerts_then_reload_resumes(
    sandbox: SandboxThread, serve: StartServe
) -> None:
    service = serve(sandbox.url, token="wrong-token-0000")
    client = Client(service.url)
    load = Load(service.url, EVENTS).start()
    load.wait(60)
    wait_until(lambda: client.metric("gleap_actions_credentials_paused") == 1, 30, "alert metric raised")
    unauthorized = sandbox.state.stats().requests_by_status.get("401", 0)
    assert unauthorized >= 1 and sandbox.state.event_count() == 0
    status, stats = client.admin("GET", "/admin/stats")
    assert status == 200 and stats["dead_letters"] == 0 and stats["pending"] + stats["unrouted"] > 0

    _set_token(service.config, TOKEN)
    assert client.admin("POST", "/admin/reload")[0] == 200
    wait_until(client.queue_empty, 60, "delivery resumed")
    report = reconcile(load, sandbox.state, client.dead_letters())
    record("invalid token + reload", report, requests_401=unauthorized)
    assert (report.delivered, report.lost, report.dead_lettered, report.duplicates) == (EVENTS, 0, 0, 0)
    # Paused means paused: a handful of 401s, not one per event or per batch.
    assert sandbox.state.stats().requests_by_status.get("401", 0) <= 5
    assert client.metric("gleap_actions_credentials_paused") == 0
    texts = [service.log_text(), client.metrics(), *client.seen]
    assert_no_secrets(texts, ("wrong-token-0000", *SECRETS))  # the wrong token was a secret too


def _set_token(config: Path, token: str) -> None:
    document = yaml.safe_load(config.read_text())
    document["gleap"]["api_token"] = token
    config.write_text(yaml.safe_dump(document))
