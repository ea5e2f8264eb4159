"""The console in headless Chromium against a real `serve` and the sandbox: sign-in, overview counts equal to
/admin/stats, an event arriving in the live view, the mapping tester, replaying a dead letter. Each page is
also photographed at desktop and phone width into the test's temporary folder (`screenshots/`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from playwright.async_api import expect

from console.conftest import (
    ADMIN_TOKEN,
    TOKEN,
    Serve,
    admin,
    dead_lettered,
    post,
    screenshots,
    sign_in,
    track,
    wait_for,
)
from gleap_actions.sandbox import SandboxThread

TRACK = "Track Event"
IDENTIFY = "Identify Contact"


async def test_refused_without_the_admin_token(serve: Serve, page: Any, tmp_path: Path) -> None:
    service = await serve()
    await page.goto(service.url + "/console/overview")
    assert page.url.endswith("/console/login")  # no session: sent to sign in
    form = page.get_by_test_id("login-form")
    await form.get_by_test_id("login-token").fill("not-the-token")
    await form.get_by_test_id("login-submit").click()
    await page.get_by_text("That is not the admin token.").wait_for()
    await page.goto(service.url + "/console/dead-letters")
    assert page.url.endswith("/console/login")
    await screenshots(page, tmp_path / "screenshots", "login")
    # With the keyboard alone: the token field has the focus, Enter signs in, Tab walks the navigation.
    await page.keyboard.type(ADMIN_TOKEN)
    await page.keyboard.press("Enter")
    await page.wait_for_url("**/console/overview")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.textContent") == "Overview"


async def test_overview_counts_equal_admin_stats(
    serve: Serve, sandbox: SandboxThread, page: Any, tmp_path: Path
) -> None:
    service = await serve()
    await sign_in(page, service.url)
    await page.get_by_test_id(f"delivered-{TRACK}").wait_for()
    assert await page.get_by_test_id(f"delivered-{TRACK}").inner_text() == "0"
    for i in range(3):
        assert (await post(service.url, "/v1/track", track(f"user-{i}")))[0] == 200
    assert (await post(service.url, "/v1/identify", {"userId": "user-0", "traits": {"name": "Ann"}}))[
        0
    ] == 200
    await wait_for(lambda: len(sandbox.state.events()) >= 3 and len(sandbox.state.contacts()) >= 1)
    # The page refreshes by itself: the counts arrive without a reload.
    await expect(page.get_by_test_id(f"delivered-{TRACK}")).to_have_text("3", timeout=10000)
    await expect(page.get_by_test_id(f"delivered-{IDENTIFY}")).to_have_text("1", timeout=10000)
    status, stats = await admin(service.url, "GET", "/admin/stats")
    assert status == 200
    assert stats["mappings"][TRACK]["delivered"] == 3 and stats["mappings"][IDENTIFY]["delivered"] == 1
    # The queue figures are re-read every few seconds: the page catches up with /admin/stats by itself.
    for name in (TRACK, IDENTIFY):
        figures = stats["mappings"][name]
        await expect(page.get_by_test_id(f"delivered-{name}")).to_have_text(str(figures["delivered"]))
        await expect(page.get_by_test_id(f"retrying-{name}")).to_have_text(str(figures["retrying"]))
        await expect(page.get_by_test_id(f"dead-letters-{name}")).to_have_text(str(figures["dead_letters"]))
    await expect(page.get_by_test_id("queue-pending")).to_have_text(str(stats["pending"]), timeout=10000)
    await expect(page.get_by_test_id("queue-dead-letters")).to_have_text(str(stats["dead_letters"]))
    chart = page.locator("figure.chart svg").first
    assert "3 delivered" in (await chart.get_attribute("aria-label") or "")
    await screenshots(page, tmp_path / "screenshots", "overview")


async def test_an_event_appears_in_the_live_view(
    serve: Serve, sandbox: SandboxThread, page: Any, tmp_path: Path
) -> None:
    service = await serve()
    await sign_in(page, service.url)
    await page.goto(service.url + "/console/events")
    await page.get_by_text("No events yet.").wait_for()
    assert (await post(service.url, "/v1/track", track("live-user-7", "Plan Chosen")))[0] == 200
    await post(service.url, "/v1/identify", {"userId": "other-user", "traits": {"name": "Bo"}})
    event = page.get_by_test_id("live-event").filter(has_text="live-user-7")
    await event.wait_for(timeout=10000)  # arrives without a reload
    await event.filter(has_text="Track Event: delivered").wait_for(timeout=10000)
    await event.locator("summary").click()
    request = event.get_by_test_id(f"request-{TRACK}")
    text = await request.inner_text()
    sent = orjson.loads(text)
    assert sent["headers"]["Api-Token"] == "***"
    assert sent["url"].endswith("/admin/track")
    assert sent["body"]["events"][0]["name"] == "Plan Chosen"
    assert TOKEN not in await page.content()
    # Filters: by user id and by type.
    await page.get_by_test_id("filter-user").fill("other-user")
    await page.get_by_role("button", name="Filter").click()
    await page.get_by_test_id("live-event").filter(has_text="other-user").wait_for()
    assert await page.get_by_test_id("live-event").count() == 1
    await page.goto(service.url + "/console/events")
    await page.get_by_test_id("live-event").first.locator("summary").click()
    await page.locator("[data-testid^=request-]").first.wait_for()
    await screenshots(page, tmp_path / "screenshots", "events")


async def test_the_tester_shows_the_gleap_request_for_a_pasted_event(
    serve: Serve, page: Any, tmp_path: Path
) -> None:
    service = await serve()
    await sign_in(page, service.url)
    await page.goto(service.url + "/console/mappings")
    event = {"type": "identify", "userId": "u-42", "traits": {"email": "ann@example.com", "name": "Ann"}}
    await page.get_by_test_id("tester-input").fill(orjson.dumps(event).decode())
    await page.get_by_test_id("tester-run").click()
    output = page.get_by_test_id("tester-output")
    await output.get_by_text(f"{IDENTIFY}: POST").wait_for()
    text = await output.inner_text()
    assert '"Api-Token": "***"' in text and "/admin/identify" in text and '"email": "ann@example.com"' in text
    assert TOKEN not in await page.content()
    # A rejected event says why.
    await page.get_by_test_id("tester-input").fill('{"type": "identify", "anonymousId": "a-1"}')
    await page.get_by_test_id("tester-run").click()
    await output.get_by_text(f"{IDENTIFY}: rejected (HTTP 400)").wait_for()
    assert "missing the required field 'userId'" in await output.inner_text()
    await page.get_by_test_id("tester-input").fill(orjson.dumps(event).decode())
    await page.get_by_test_id("tester-run").click()
    await output.get_by_text(f"{IDENTIFY}: POST").wait_for()
    await screenshots(page, tmp_path / "screenshots", "mappings")


async def test_replay_a_dead_letter_and_see_it_delivered(
    serve: Serve, sandbox: SandboxThread, page: Any, tmp_path: Path
) -> None:
    service = await serve(retry_window=0.5)
    sandbox.set_faults(error_rate=1.0, error_status=503)
    assert (await post(service.url, "/v1/track", track("dl-user", "Checkout Failed")))[0] == 200
    letters = await dead_lettered(service.url)
    assert len(letters) == 1, letters
    letter_id = letters[0]["id"]
    sandbox.set_faults(error_rate=0.0)

    await sign_in(page, service.url)
    await page.goto(service.url + "/console/dead-letters")
    await page.get_by_text("retry window expired").first.wait_for()
    await screenshots(page, tmp_path / "screenshots", "dead-letters")
    await page.get_by_test_id(f"replay-{letter_id}").click()
    await page.get_by_test_id("confirm").click()
    result = page.get_by_test_id(f"replay-result-{letter_id}")
    await result.filter(has_text="delivered").wait_for(timeout=10000)
    assert any(e.get("name") == "Checkout Failed" for e in sandbox.state.events())
    assert (await admin(service.url, "GET", "/admin/dead-letters"))[1]["dead_letters"] == []
    assert ADMIN_TOKEN not in await page.content()
