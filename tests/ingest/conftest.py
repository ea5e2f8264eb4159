"""Fixtures of the ingest tests: a real ingest server (`TrackingAPI`) on 127.0.0.1 over a real SQLite file;
and for the library tests, the whole service (tests/service's fixtures) delivering to the sandbox, a page
server on another origin, and the real Segment JavaScript libraries (npm, installed by `npm ci` in
tests/ingest/js) in Debian's Chromium.

Without node/npm or Chromium the tests that need them skip with the reason, except under CI (`CI=true`),
where that is a failure (`.ci/run` installs Chromium).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
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
from gleap_actions.sandbox import SandboxThread
from gleap_actions.service import Service
from service.conftest import WRITE_KEY, sandbox_token, start_service, wait_for


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


JS_DIR = Path(__file__).parent / "js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]

__all__ = ["WRITE_KEY", "sandbox_token", "start_service", "wait_for"]  # shared with tests/service

Serve = Callable[..., Awaitable[Service]]


def require(what: str, reason: str) -> None:
    """Skip for a missing tool, or fail under CI where every tool must be there."""
    message = f"{what} unavailable: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: it is required; .ci/run installs it)")
    pytest.skip(message)


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """tests/ingest/js/node_modules, installed from the committed package-lock.json (once per session)."""
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        require("node and npm", "not on PATH")
    assert npm is not None
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=JS_DIR,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        require("the npm packages", f"npm ci failed: {done.stderr.strip()[-500:]}")
    return JS_DIR / "node_modules"


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's Chromium."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    require("Chromium", "no chromium on PATH (apt-get install chromium)")
    raise AssertionError("unreachable")


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    """A headless Chromium driven by Playwright (the system browser: Playwright never downloads one)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def serve(sandbox: SandboxThread, start_service: Any) -> Serve:
    """`await serve(**server_settings)`: the whole service delivering to the sandbox."""

    async def start(**server: Any) -> Service:
        service: Service = await start_service(sandbox.url, server=server)
        return service

    return start


@pytest.fixture
async def page_origin(node_modules: Path, tmp_path: Path) -> AsyncIterator[str]:
    """A static server on another port (so another origin): the test pages (`/pages/`, and `/generated/`
    from `tmp_path/"pages"`) and analytics.js as built in the npm package (`/analytics-next/`)."""
    dist = node_modules / "@segment" / "analytics-next" / "dist" / "umd"
    generated = tmp_path / "pages"
    generated.mkdir()
    app = web.Application()
    app.router.add_static("/pages/", Path(__file__).parent / "pages")
    app.router.add_static("/generated/", generated)
    app.router.add_static("/analytics-next/", dist)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def sample(service: Service, name: str, labels: dict[str, str] | None = None) -> float:
    """A metric of the service (0 when absent)."""
    return service.registry.get_sample_value(name, labels or {}) or 0.0
