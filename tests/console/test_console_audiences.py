"""The audiences page against a real service: its empty state, the definitions with their sync state and
members over HTTP, and in Chromium a user entering an audience (members 1, an "entered" row), photographed
at desktop and phone width into the test's temporary folder (`screenshots/`)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp

from console.conftest import (
    ADMIN_TOKEN,
    TOKEN,
    WRITE_KEY,
    Serve,
    http_sign_in,
    post,
    screenshots,
    sign_in,
    track,
    wait_for,
)
from gleap_actions.sandbox import SandboxThread

SECTIONS = {
    "audiences": [{"name": "Buyers", "definition": "event('Order Completed').count() >= 1"}],
    "computed_traits": [
        {"name": "Orders", "definition": "event('Order Completed').count()", "enabled": False}
    ],
}


async def test_no_audiences_shows_how_to_add_one(serve: Serve, http: aiohttp.ClientSession) -> None:
    service = await serve()
    async with http.get(service.url + "/console/audiences", allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/console/login"
    await http_sign_in(http, service.url)
    async with http.get(service.url + "/console/audiences") as r:
        text = await r.text()
    assert r.status == 200
    assert "No audiences or computed traits are configured." in text
    assert "docs/audiences.md" in text and "audiences:" in text
    assert '<a href="/console/audiences" aria-current="page">Audiences</a>' in text


async def test_definitions_state_and_members(
    serve: Serve, sandbox: SandboxThread, http: aiohttp.ClientSession
) -> None:
    service = await serve(sections=SECTIONS)
    await http_sign_in(http, service.url)
    assert (await post(service.url, "/v1/track", track("buyer-1", "Order Completed")))[0] == 200
    await wait_for(lambda: (sandbox.state.contact("buyer-1") or {}).get("buyers") is True)

    async def page() -> str:
        async with http.get(service.url + "/console/audiences") as r:
            assert r.status == 200
            return await r.text()

    for _ in range(200):  # the members gauge is refreshed every few seconds
        text = await page()
        if '<td data-testid="audience-members-buyers">1</td>' in text:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the members count never reached 1")
    assert "event(&#39;Order Completed&#39;).count() &gt;= 1" in text  # the definition, escaped
    assert "<td>audience</td><td>yes</td><td>live</td>" in text
    assert "<td>computed trait</td><td>no</td><td>not started</td>" in text
    assert '<tr data-testid="audience-change-buyers">' in text and "<td>buyer-1</td><td>entered</td>" in text
    assert 'aria-label="Buyers members: 1 now, at most 1"' in text
    for secret in (TOKEN, ADMIN_TOKEN, WRITE_KEY):
        assert secret not in text


async def test_a_user_enters_an_audience_in_the_browser(
    serve: Serve, sandbox: SandboxThread, page: Any, tmp_path: Path
) -> None:
    service = await serve(sections=SECTIONS)
    await sign_in(page, service.url)
    await page.get_by_role("link", name="Audiences").click()
    await page.wait_for_url("**/console/audiences")
    members = page.get_by_test_id("audience-members-buyers")
    assert await members.inner_text() == "0"
    assert await page.get_by_test_id("audience-change-buyers").count() == 0
    assert (await post(service.url, "/v1/track", track("shopper-7", "Order Completed")))[0] == 200
    await wait_for(lambda: (sandbox.state.contact("shopper-7") or {}).get("buyers") is True)
    for _ in range(100):  # the members gauge is refreshed every few seconds
        await page.reload()
        if await members.inner_text() == "1":
            break
        await asyncio.sleep(0.2)
    assert await members.inner_text() == "1"
    entered = page.get_by_test_id("audience-change-buyers")
    assert await entered.count() == 1
    assert "shopper-7" in await entered.inner_text() and "entered" in await entered.inner_text()
    await screenshots(page, tmp_path / "screenshots", "audiences")
