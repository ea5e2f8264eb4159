"""A destination answer holding a raw NUL (in the reason phrase, in the body) is recorded safely on both
stores: PostgreSQL's text columns refuse NUL, so the retry and the dead-letter writes must not carry one.
The destination is a raw HTTP server on 127.0.0.1 (the sandbox cannot send such an answer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from pipeline_support import fast

from gleap_actions import events
from gleap_actions.deliver.pipeline import Pipeline
from gleap_actions.destinations.gleap.actions import ACTIONS
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.subscription import Subscription
from gleap_actions.queue.postgres.store import PostgresStore
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent, Store

BODY = b'{"error": "bad\x00value"}'


@pytest.fixture
async def nul_gleap() -> AsyncIterator[str]:
    """Answers the first request 500 and every later one 400, each with a NUL in reason and body."""
    answered = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal answered
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            (
                int(line.split(b":")[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length")
            ),
            0,
        )
        await reader.readexactly(length)
        status = b"500 Broken\x00Reason" if answered == 0 else b"400 Bad\x00Reason"
        answered += 1
        writer.write(
            b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()
    await server.wait_closed()


@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "sqlite":
        store: Store = SQLiteStore(tmp_path / "queue.db")
    else:
        store = PostgresStore(request.getfixturevalue("postgres_url"), pool_size=2)
    request.addfinalizer(store.close)
    return store


async def test_a_nul_in_the_answer_is_escaped_in_the_retry_and_the_dead_letter(
    any_store: Store, nul_gleap: str
) -> None:
    raw = {"type": "track", "event": "Signed Up", "userId": "u1"}
    event = events.normalize(raw, "track", received_at=time.time())
    any_store.append([NewEvent("src", event["messageId"], "u1", "track", time.time(), orjson.dumps(event))])
    sub = Subscription.compile("Track", ACTIONS["trackEvent"], 'type = "track"')
    p = Pipeline(any_store, [sub], GleapSettings("token-nul", nul_gleap, timeout=2.0), fast())
    await p.start()
    try:
        await p.drain(20)
    finally:
        await p.stop()
    [dead] = any_store.list_dead_letters()
    assert dead.attempts == 2  # the 500 was recorded as a retry, then the 400 as a dead letter
    assert dead.reason == "HTTP 400: 400 Bad\\u0000Reason" and "\x00" not in dead.reason
    assert orjson.loads(dead.response) == {"status": 400, "body": BODY.decode()}
