"""The whole service (tests/service's fixtures) delivering to the sandbox, a page server on another origin,
and the real Segment JavaScript libraries (npm, installed by `npm ci` in tests/ingest/js) in Debian's
Chromium.

Without node/npm or Chromium the tests that need them skip with the reason, except under CI (`CI=true`),
where that is a failure (`.ci/run` installs Chromium).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gleap_actions.sandbox import Sandbox
from gleap_actions.service import Service
from service.conftest import WRITE_KEY, sandbox, start_service, wait_for

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

__all__ = ["WRITE_KEY", "sandbox", "start_service", "wait_for"]  # shared with tests/service

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
async def serve(sandbox: Sandbox, start_service: Any) -> Serve:
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
