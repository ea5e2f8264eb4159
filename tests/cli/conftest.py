"""A small real Gleap-like HTTP server on 127.0.0.1, in a background thread, for the account commands."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web


@dataclass
class GleapServer:
    """Answers `status` to every request (401 without the right `Api-Token`) and records what it got."""

    token: str = "test-token"
    status: int = 200
    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.method, request.raw_path, dict(request.headers)))
        if request.headers.get("Api-Token") != self.token:
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response({}, status=self.status)


@pytest.fixture
def gleap_server() -> Iterator[GleapServer]:
    server = GleapServer()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app)
    loop.run_until_complete(runner.setup())
    site = web.TCPSite(runner, "127.0.0.1", 0)
    loop.run_until_complete(site.start())
    port = runner.addresses[0][1]
    server.url = f"http://127.0.0.1:{port}"
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(runner.cleanup())
        loop.close()
