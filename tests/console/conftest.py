"""The console against the whole service (tests/service's fixtures) delivering to the sandbox (the root one,
with tests/service's token), in Debian's Chromium driven by Playwright (tests/ingest's browser fixtures),
plus a signed-in HTTP client."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gleap_actions.sandbox import SandboxThread
from gleap_actions.service import Service
from ingest.conftest import browser, chromium
from service.conftest import (
    ADMIN_TOKEN,
    TOKEN,
    WRITE_KEY,
    admin,
    post,
    sandbox_token,
    start_service,
    wait_for,
)

__all__ = [
    "ADMIN_TOKEN",
    "TOKEN",
    "WRITE_KEY",
    "admin",
    "browser",
    "chromium",
    "post",
    "sandbox_token",
    "start_service",
    "wait_for",
]

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

Serve = Callable[..., Awaitable[Service]]


@pytest.fixture
async def serve(sandbox: SandboxThread, start_service: Any) -> Serve:
    """`await serve(server={...}, sections={...}, **delivery)`: the whole service delivering to the
    sandbox (`sections`: more top-level config sections, e.g. `audiences`)."""

    async def start(
        server: dict[str, Any] | None = None, sections: dict[str, Any] | None = None, **delivery: Any
    ) -> Service:
        service: Service = await start_service(sandbox.url, server=server, sections=sections, **delivery)
        return service

    return start


@pytest.fixture
async def page(browser: Any) -> AsyncIterator[Any]:
    """A fresh browser page at desktop width."""
    context = await browser.new_context(viewport=DESKTOP)
    try:
        yield await context.new_page()
    finally:
        await context.close()


async def sign_in(page: Any, url: str, token: str = ADMIN_TOKEN) -> None:
    """Sign in through the login form."""
    await page.goto(url + "/console/login")
    form = page.get_by_test_id("login-form")
    await form.get_by_test_id("login-token").fill(token)
    await form.get_by_test_id("login-submit").click()
    await page.wait_for_url("**/console/overview")


async def screenshots(page: Any, folder: Path, name: str) -> None:
    """`name`-desktop.png and `name`-phone.png of the page as it is (full height) in `folder`."""
    folder.mkdir(exist_ok=True)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        await page.set_viewport_size(size)
        await page.screenshot(path=folder / f"{name}-{label}.png", full_page=True)
    await page.set_viewport_size(DESKTOP)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps cookies for 127.0.0.1 and does not follow redirects by default."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def http_sign_in(
    http: aiohttp.ClientSession, url: str, token: str = ADMIN_TOKEN
) -> aiohttp.ClientResponse:
    """Sign in through the form with `http`; returns the (unfollowed) response."""
    async with http.post(url + "/console/login", data={"token": token}, allow_redirects=False) as r:
        await r.read()
        return r


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    """The session's CSRF token, as the pages carry it."""
    async with http.get(url + "/console/dead-letters") as r:
        found = re.search(r'name="csrf" value="([^"]+)"', await r.text())
    assert found is not None
    return found.group(1)


async def dead_lettered(url: str) -> list[dict[str, Any]]:
    """The dead letters of the service at `url`, once there is at least one (fails after 10 s)."""
    for _ in range(200):
        status, body = await admin(url, "GET", "/admin/dead-letters")
        assert status == 200
        if body["dead_letters"]:
            return body["dead_letters"]  # type: ignore[no-any-return]
        await asyncio.sleep(0.05)
    raise AssertionError("no dead letter in time")


def track(user_id: str, event: str = "Signed Up", **extra: Any) -> dict[str, Any]:
    """A track call."""
    return {"type": "track", "event": event, "userId": user_id, "properties": {"plan": "pro"}, **extra}
