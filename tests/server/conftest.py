"""A real ingest server on 127.0.0.1 (free port) over a real SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from prometheus_client import CollectorRegistry

from gleap_actions.pipeline.sqlite_store import SQLiteStore
from gleap_actions.server.ingest import IngestService


@dataclass
class Server:
    url: str
    service: IngestService
    store: SQLiteStore
    registry: CollectorRegistry
    session: aiohttp.ClientSession

    def stored(self) -> list[dict[str, Any]]:
        """Every event committed so far, oldest first (read through a second store instance)."""
        reader = SQLiteStore(self.store.path)
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
        service = IngestService(store, registry=registry, **kwargs)
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
