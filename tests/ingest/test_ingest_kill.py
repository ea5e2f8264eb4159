"""`kill -9` of the ingest server under load loses no event it answered 200 for."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import aiohttp
import orjson

from gleap_actions.queue.sqlite.store import SQLiteStore

SERVER = textwrap.dedent(
    """
    import sys
    from aiohttp import web
    from gleap_actions.queue.sqlite.store import SQLiteStore
    from gleap_actions.ingest.tracking import TrackingAPI
    from gleap_actions.ingest.limits import RUNNER_OPTIONS
    store = SQLiteStore(sys.argv[1])
    app = web.Application()
    TrackingAPI(store).add_routes(app)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[2]), print=None, **RUNNER_OPTIONS)
    """
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for_port(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("the server did not start")


async def test_kill_9_loses_no_acknowledged_event(tmp_path: Path) -> None:
    path, port = tmp_path / "queue.db", free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(path), str(port)])
    acknowledged: list[str] = []
    try:
        await wait_for_port(port)

        async def sender(session: aiohttp.ClientSession, n: int) -> None:
            for batch in range(10_000):
                ids = [f"{n}-{batch}-{i}" for i in range(20)]
                body = {
                    "batch": [{"type": "track", "userId": "u", "event": "e", "messageId": m} for m in ids]
                }
                try:
                    async with session.post(
                        f"http://127.0.0.1:{port}/v1/batch", data=orjson.dumps(body)
                    ) as r:
                        if r.status == 200:
                            acknowledged.extend(ids)
                except aiohttp.ClientError:
                    return

        async with aiohttp.ClientSession() as session:
            senders = [asyncio.create_task(sender(session, n)) for n in range(4)]
            while len(acknowledged) < 2000:
                await asyncio.sleep(0.02)
            os.kill(server.pid, signal.SIGKILL)
            await asyncio.wait_for(asyncio.gather(*senders), 30)
    finally:
        server.kill()
        server.wait()
    store = SQLiteStore(path)
    stored = {orjson.loads(e.payload)["messageId"] for e in store.claim_unrouted("check", 10**6, 30)}
    store.close()
    assert len(acknowledged) >= 2000
    assert set(acknowledged) <= stored
