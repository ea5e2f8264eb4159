"""Several destinations in the console: the overview shows them side by side (mappings, delivered, paused
state, queue depth), the mappings page and its tester work on the destination picked, and dead letters
filter by destination. One destination's token is refused (paused), the other delivers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from playwright.async_api import expect

from console.conftest import (
    ADMIN_TOKEN,
    TOKEN,
    csrf_of,
    http_sign_in,
    post,
    screenshots,
    sign_in,
    track,
    wait_for,
)
from gleap_actions.config import load_config
from gleap_actions.queue.store import NewEvent, Route
from gleap_actions.sandbox import SandboxThread
from gleap_actions.service import Service


def _mapping(name: str) -> dict[str, Any]:
    return {"name": name, "action": "trackEvent", "trigger": 'type = "track"'}


@pytest.fixture
async def service(sandbox: SandboxThread, tmp_path: Path) -> AsyncIterator[Service]:
    document = {
        "server": {"host": "127.0.0.1", "port": 0, "admin_token": ADMIN_TOKEN},
        "storage": {"data_dir": str(tmp_path / "data")},
        "delivery": {"linger": 0.05},
        "sources": [{"name": "web", "write_keys": ["wk-web"]}],
        "destinations": [
            {
                "name": "prod",
                "gleap": {"api_token": TOKEN, "base_url": sandbox.url},
                "mappings": [_mapping("Prod Track")],
            },
            {
                "name": "staging",
                "gleap": {"api_token": "refused-token", "base_url": sandbox.url},
                "mappings": [_mapping("Staging Track")],
            },
        ],
    }
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(document))
    running = Service(load_config(path))
    await running.start()
    try:
        for i in range(2):
            assert (await post(running.url, "/v1/track", track(f"u{i}"), key="wk-web"))[0] == 200
        await wait_for(lambda: sandbox.state.event_count() == 2)
        yield running
    finally:
        await running.stop(timeout=2)


async def _page(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url) as r:
        assert r.status == 200
        return await r.text()


async def test_overview_shows_each_destination_with_its_state(
    service: Service, http: aiohttp.ClientSession
) -> None:
    await http_sign_in(http, service.url)
    text = ""
    for _ in range(300):
        text = await _page(http, service.url + "/console/overview")
        if 'data-testid="destination-state-staging">paused' in text and re.search(
            r'data-testid="delivered-prod/Prod Track">2<', text
        ):
            break
        await asyncio.sleep(0.05)
    assert 'data-testid="destination-state-staging">paused' in text
    assert 'data-testid="destination-state-prod">delivering' in text
    assert re.search(r'data-testid="delivered-prod/Prod Track">2<', text)
    assert re.search(r'data-testid="delivered-staging/Staging Track">0<', text)
    assert re.search(r'data-testid="destination-pending-staging">2<', text)
    assert re.search(r'data-testid="destination-pending-prod">0<', text)
    assert "<strong>staging</strong>: Gleap answered HTTP 401" in text
    assert "refused-token" not in text and TOKEN not in text


async def test_mappings_page_and_tester_of_the_destination_picked(
    service: Service, http: aiohttp.ClientSession
) -> None:
    await http_sign_in(http, service.url)
    first = await _page(http, service.url + "/console/mappings")
    assert 'data-testid="mapping-Prod Track"' in first and "Staging Track" not in first.split("<main")[-1]
    picked = await _page(http, service.url + "/console/mappings?destination=staging")
    assert (
        'data-testid="mapping-Staging Track"' in picked and 'data-testid="mapping-Prod Track"' not in picked
    )
    assert '<option value="staging" selected>' in picked
    csrf = await csrf_of(http, service.url)
    event = '{"type": "track", "event": "A", "userId": "u1"}'
    form = {"csrf": csrf, "event": event, "destination": "staging"}
    async with http.post(service.url + "/console/mappings/test", data=form) as r:
        tested = await r.text()
    output = tested[tested.index('data-testid="tester-output"') :]
    assert "Staging Track: POST" in output and "Prod Track" not in output


async def test_dead_letters_filter_by_destination(service: Service, http: aiohttp.ClientSession) -> None:
    for key in ("prod/Prod Track", "staging/Staging Track"):
        await asyncio.to_thread(_dead_letter, service, key)
    await http_sign_in(http, service.url)
    page = await _page(http, service.url + "/console/dead-letters?destination=staging")
    rows = re.findall(r"<td>(prod|staging)</td><td>([^<]+)</td>", page)
    assert rows and set(rows) == {("staging", "staging/Staging Track")}
    assert '<option value="staging" selected>' in page
    both = await _page(http, service.url + "/console/dead-letters")
    assert {d for d, _ in re.findall(r"<td>(prod|staging)</td><td>([^<]+)</td>", both)} == {"prod", "staging"}


def _dead_letter(service: Service, key: str) -> None:
    """One dead letter of delivery key `key`, made by the store's own dead-lettering (of a fresh event when
    the lane delivered the earlier ones first)."""
    store = service.store
    for n in range(100):
        ids = [d.id for d in store.claim_deliveries("test", key, 10, 60, 10**10)]
        if ids:
            store.dead_letter(ids, reason="rejected", status=400, request="{}", response="")
            return
        event = {"type": "track", "event": "Again", "userId": "u9", "messageId": f"again-{key}-{n}"}
        store.append([NewEvent.from_event(event, source="s", received_at=0, route=Route((key,)))])
    raise AssertionError(f"no delivery of {key} could be claimed")


async def test_destinations_are_side_by_side_in_the_browser(
    service: Service, page: Any, tmp_path: Path
) -> None:
    await sign_in(page, service.url)
    await expect(page.get_by_test_id("destination-state-staging")).to_have_text("paused: token refused")
    await screenshots(page, tmp_path / "screenshots", "overview")
    # Measured in one script: the live part of the page is replaced every few seconds.
    boxes = await page.evaluate(
        "() => Object.fromEntries([...document.querySelectorAll('section.destination')].map("
        "e => { const r = e.getBoundingClientRect(); return [e.dataset.testid, [r.x, r.y, r.width]]; }))"
    )
    (ax, ay, aw), (bx, by, _) = boxes["destination-prod"], boxes["destination-staging"]
    assert ay == by and ax + aw <= bx  # one row, prod left of staging
    await page.get_by_test_id("destination-dead-letters-staging").click()
    await page.wait_for_url("**/console/dead-letters?destination=staging")
    assert await page.get_by_test_id("filter-destination").input_value() == "staging"


async def test_problems_in_the_file_show_under_the_destinations_mapping(
    service: Service, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    path = tmp_path / "c.yaml"
    document = yaml.safe_load(path.read_text())
    document["destinations"][1]["mappings"][0]["trigger"] = "type = "
    path.write_text(yaml.safe_dump(document))
    await http_sign_in(http, service.url)
    staging = await _page(http, service.url + "/console/mappings?destination=staging")
    section = staging[staging.index('data-testid="mapping-Staging Track"') :]
    assert "destinations[1].mappings[0].trigger" in section[: section.index("</section>")]
    prod = await _page(http, service.url + "/console/mappings?destination=prod")
    assert '<ul class="problems"' not in prod and "1 more outside these mappings" in prod
