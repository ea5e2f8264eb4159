"""Ingest when things go wrong: the store cannot write, overload, and junk bodies."""

from __future__ import annotations

import asyncio
import gzip
import http.client
import json
import sqlite3
from pathlib import Path
from urllib.parse import urlsplit

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gleap_actions.queue.sqlite.store import SQLiteStore

from .conftest import ServerThread, StartServer


def items(start: int, count: int, size: int = 0) -> list[dict[str, object]]:
    pad = "x" * size
    return [
        {"type": "track", "userId": "u", "event": "e", "messageId": f"m{n}", "properties": {"pad": pad}}
        for n in range(start, start + count)
    ]


async def test_503_when_the_store_is_full(start_server: StartServer, tmp_path: Path) -> None:
    """A size-capped SQLite file (PRAGMA max_page_count) behaves like a full disk."""
    store = SQLiteStore(tmp_path / "small.db", max_bytes=256 * 1024)
    server = await start_server(store=store)
    answered_200: set[str] = set()
    full_answer = None
    for batch in range(100):
        body = {"batch": items(batch * 10, 10, size=3000)}
        async with server.session.post(server.url + "/v1/batch", data=orjson.dumps(body)) as response:
            if response.status == 200:
                answered_200.update(f"m{n}" for n in range(batch * 10, batch * 10 + 10))
                continue
            full_answer = (response.status, response.headers.get("Retry-After"), await response.json())
            break
    assert full_answer is not None
    status, retry_after, payload = full_answer
    assert (status, payload["code"]) == (503, "store_unavailable")
    assert retry_after is not None and int(retry_after) > 0
    # Everything answered 200 is stored, and nothing else.
    assert {e["messageId"] for e in server.stored()} == answered_200
    assert server.metric("gleap_actions_ingest_events_rejected_total", {"reason": "store_unavailable"}) == 10
    # Space freed (here: the cap lifted) -> accepted again.
    store.close()
    server.service.committer.store = SQLiteStore(tmp_path / "small.db")
    async with server.session.post(
        server.url + "/v1/batch", data=orjson.dumps({"batch": items(5000, 1)})
    ) as r:
        assert r.status == 200
    server.service.committer.store.close()


async def test_429_when_too_much_waits_to_be_committed(start_server: StartServer, tmp_path: Path) -> None:
    server = await start_server(max_queued_events=1)
    # Another process holds SQLite's write lock: the committer's first group waits for it.
    blocker = sqlite3.connect(tmp_path / "queue.db", isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")

    async def send(n: int) -> tuple[int, str | None]:
        body = orjson.dumps({"batch": items(n, 1)})
        async with server.session.post(server.url + "/v1/batch", data=body) as response:
            return response.status, response.headers.get("Retry-After")

    first = asyncio.create_task(send(1))
    await asyncio.sleep(0.2)  # the worker has taken the first group and waits for the lock
    assert not first.done() and server.service.committer.queued_events == 0
    second = asyncio.create_task(send(2))
    while not server.service.committer.queued_events:
        await asyncio.sleep(0.01)
    assert await send(3) == (429, "1")
    blocker.execute("ROLLBACK")
    blocker.close()
    assert (await first)[0] == 200 and (await second)[0] == 200
    assert [e["messageId"] for e in server.stored()] == ["m1", "m2"]


# -- junk never gets a 5xx ----------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
event_like = st.dictionaries(
    st.sampled_from(
        ["type", "userId", "anonymousId", "event", "groupId", "previousId", "messageId", "timestamp",
         "sentAt", "originalTimestamp", "context", "integrations", "properties", "traits", "name"]
    ),
    json_values,
)  # fmt: skip


def dumps(value: object) -> bytes:
    """JSON as any client might send it (the stdlib allows integers orjson cannot hold)."""
    return json.dumps(value).encode()


bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(dumps),
    event_like.map(dumps),
    st.builds(lambda b, e: dumps({"batch": b, **e}), st.lists(event_like, max_size=5), event_like),
    st.binary(max_size=200).map(lambda b: b"\x1f\x8b" + b),
)


def _post(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(["/v1/track", "/v1/identify", "/v1/group", "/v1/alias", "/v1/page", "/v1/batch"]),
    body=bodies,
    gzipped=st.booleans(),
)
def test_junk_bodies_get_4xx_with_a_message(
    server_thread: ServerThread, path: str, body: bytes, gzipped: bool
) -> None:
    headers = {"Content-Type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    status, answer = _post(server_thread.url, path, body, headers)
    assert status < 500
    payload = orjson.loads(answer)
    if status >= 400:
        assert isinstance(payload["code"], str) and isinstance(payload["message"], str) and payload["message"]
    else:
        assert status == 200 and payload["success"] is True
