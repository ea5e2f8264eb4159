"""The whole service with the built-in Gleap sandbox, a page server on another origin, and the real Segment
JavaScript libraries (npm, installed here by `npm ci` from tests/ingest/js) in Debian's Chromium.

Without node/npm or Chromium the tests that need them skip with the reason, except under CI (`CI=true`),
where that is a failure (`.ci/run` installs Chromium).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from gleap_actions.config import load_config
from gleap_actions.service import Service

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
WRITE_KEY = "wk-browser-7c1e"

StartService = Callable[..., Awaitable[Service]]


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


def write_config(folder: Path, server: dict[str, Any]) -> Path:
    """A config without a Gleap token (the built-in sandbox) and with quick delivery."""
    document = {
        "server": {"host": "127.0.0.1", "port": 0, "write_keys": [WRITE_KEY], **server},
        "storage": {"data_dir": str(folder / "data")},
        "delivery": {"linger": 0.05, "initial_backoff": 0.05, "max_backoff": 0.3},
    }
    path = folder / "gleap-actions.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
async def start_service(tmp_path: Path) -> AsyncIterator[StartService]:
    """`await start_service(**server_settings)`: the whole service, delivering to its built-in sandbox."""
    started: list[Service] = []

    async def start(**server: Any) -> Service:
        service = Service(load_config(write_config(tmp_path, server)))
        await service.start()
        started.append(service)
        return service

    yield start
    for service in started:
        await service.stop(timeout=2)


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


async def wait_for(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll `check` until it is true; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)
