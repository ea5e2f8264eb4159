"""A real ingest server on 127.0.0.1 (free port) over a real SQLite file."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from gleap_actions.ingest.tracking import TrackingAPI
from gleap_actions.queue.sqlite.store import SQLiteStore


@dataclass
class Server:
    url: str
    service: TrackingAPI
    store: SQLiteStore
    registry: CollectorRegistry
    session: aiohttp.ClientSession

    def stored(self) -> list[dict[str, Any]]:
        """Every event committed so far, oldest first (read through a second store instance)."""
        reader = SQLiteStore(self.store.location)
        try:
            return [orjson.loads(e.payload) for e in reader.claim_unrouted("test-reader", 100_000, 0.0)]
        finally:
            reader.close()

    def metric(self, name: str, labels: dict[str, str] | None = None) -> float:
        return self.registry.get_sample_value(name, labels or {}) or 0.0


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_server(tmp_path: Path) -> AsyncIterator[StartServer]:
    """`await start_server(store=..., auto_decompress=..., **service_kwargs)` -> a running Server.

    By default the runner leaves decompression to the service (`limits.RUNNER_OPTIONS`)."""
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []
    stores: list[SQLiteStore] = []

    async def start(store: SQLiteStore | None = None, auto_decompress: bool = False, **kwargs: Any) -> Server:
        if store is None:
            store = SQLiteStore(tmp_path / "queue.db")
            stores.append(store)
        registry = CollectorRegistry()
        service = TrackingAPI(store, registry=registry, **kwargs)
        app = web.Application()
        service.add_routes(app)
        runner = web.AppRunner(app, auto_decompress=auto_decompress)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        session = aiohttp.ClientSession()
        sessions.append(session)
        return Server(f"http://127.0.0.1:{port}", service, store, registry, session)

    yield start
    for session in sessions:
        await session.close()
    for runner in runners:
        await runner.cleanup()
    for store in stores:
        store.close()


@pytest.fixture
async def server(start_server: StartServer) -> Server:
    return await start_server()


class ServerThread:
    """The same server on its own event loop in a background thread, for synchronous clients
    (segment-analytics-python, hypothesis tests)."""

    def __init__(self, store: SQLiteStore, **kwargs: Any) -> None:
        self.store = store
        self.registry = CollectorRegistry()
        self.service = TrackingAPI(store, registry=self.registry, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner | None = None
        self.url = ""

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        app = web.Application()
        self.service.add_routes(app)
        self._runner = web.AppRunner(app, auto_decompress=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def __enter__(self) -> ServerThread:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._runner is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def stored(self) -> list[dict[str, Any]]:
        reader = SQLiteStore(self.store.location)
        try:
            return [orjson.loads(e.payload) for e in reader.claim_unrouted("test-reader", 100_000, 0.0)]
        finally:
            reader.close()


@pytest.fixture
def server_thread(tmp_path: Path) -> Iterator[ServerThread]:
    store = SQLiteStore(tmp_path / "queue.db")
    with ServerThread(store) as running:
        yield running
    store.close()
