"""The official Python client (segment-analytics-python) against our server on 127.0.0.1."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from segment.analytics import Client

from gleap_actions.events import parse_time
from gleap_actions.ingest.tracking import source_id
from gleap_actions.queue.sqlite.store import SQLiteStore

from .conftest import ServerThread

WRITE_KEY = "segment-client-test-key"


@pytest.mark.parametrize("use_gzip", [False, True])
def test_segment_python_client(tmp_path: Path, use_gzip: bool) -> None:
    store = SQLiteStore(tmp_path / "queue.db")
    errors: list[object] = []
    with ServerThread(store, write_keys=[WRITE_KEY]) as server:
        client = Client(
            WRITE_KEY, host=server.url, sync_mode=True, gzip=use_gzip, on_error=lambda e, b: errors.append(e)
        )
        past = datetime.now(UTC) - timedelta(days=2)
        client.track("u1", "Order Completed", {"total": 12.5}, timestamp=past, message_id="msg-1")
        client.track("u1", "Order Completed", {"total": 12.5}, timestamp=past, message_id="msg-1")  # dup
        client.identify("u1", {"email": "ada@example.com", "plan": "pro"})
        client.page("u1", "Docs", "Home", {"url": "https://example.com/docs"})
        client.screen("u1", "App", "Settings")
        client.group("u1", "g1", {"name": "Acme"})
        client.alias("a1", "u1")
        client.track(anonymous_id="anon-1", event="Viewed", integrations={"Gleap (Action)": False})

        bad = Client("not-the-key", host=server.url, sync_mode=True, max_retries=0)
        with pytest.raises(Exception, match="unknown write key"):
            bad.track("u2", "Nope")
        stored = server.stored()
    assert errors == []
    assert [e["type"] for e in stored] == ["track", "identify", "page", "screen", "group", "alias", "track"]
    track, identify, page, screen, group, alias, anon = stored
    assert (track["userId"], track["event"], track["properties"]) == (
        "u1",
        "Order Completed",
        {"total": 12.5},
    )
    assert track["messageId"] == "msg-1"
    assert track["context"]["library"]["name"] == "analytics-python"
    # sentAt came once at the batch level; the client's clock is ours, so the correction is tiny.
    assert abs(parse_time(track["timestamp"], "timestamp") - past.timestamp()) < 1
    assert track["sentAt"] and track["receivedAt"] and "writeKey" not in track
    assert identify["traits"] == {"email": "ada@example.com", "plan": "pro"}
    assert (page["name"], page["category"], page["properties"]["url"]) == (
        "Home",
        "Docs",
        "https://example.com/docs",
    )
    assert (screen["name"], group["groupId"], group["traits"]) == ("Settings", "g1", {"name": "Acme"})
    assert (alias["previousId"], alias["userId"]) == ("a1", "u1")
    assert (anon["anonymousId"], anon["integrations"]) == ("anon-1", {"Gleap (Action)": False})

    store.close()
    with sqlite3.connect(tmp_path / "queue.db") as db:
        sources = {row[0] for row in db.execute("SELECT DISTINCT source FROM events")}
    assert sources == {source_id(WRITE_KEY)}
