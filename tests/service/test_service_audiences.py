"""Audiences in the in-process service: the admin API's audience routes, metrics, user deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp

from gleap_actions.sandbox import SandboxThread
from gleap_actions.service import Service

from .conftest import admin, post, wait_for

StartService = Callable[..., Awaitable[Service]]
SECTIONS = {
    "audiences": [{"name": "Buyers", "definition": "event('Order Completed').count() >= 1"}],
    "computed_traits": [{"name": "Orders", "definition": "event('Order Completed').count()"}],
}


async def test_admin_routes_show_members_and_preview(
    sandbox: SandboxThread, start_service: StartService
) -> None:
    service = await start_service(sandbox.url, sections=SECTIONS)
    for user in ("b1", "b2"):
        status, _ = await post(service.url, "/v1/track", {"userId": user, "event": "Order Completed"})
        assert status == 200
    await wait_for(lambda: all((sandbox.state.contact(u) or {}).get("buyers") is True for u in ("b1", "b2")))
    assert sandbox.state.contact("b1")["orders"] == 1  # type: ignore[index]
    await wait_for(lambda: service.store.profiles.members() == {"buyers": 2, "orders": 2})

    status, listed = await admin(service.url, "GET", "/admin/audiences")
    assert status == 200
    by_key = {d["key"]: d for d in listed["audiences"]}
    assert by_key["buyers"]["members"] == 2 and by_key["buyers"]["state"] == "live"
    assert by_key["orders"]["kind"] == "computed_trait"
    _, shown = await admin(service.url, "GET", "/admin/audiences/Buyers")
    assert shown["computation_id"].startswith("aud_") and shown["events"] == ["Order Completed"]
    assert await admin(service.url, "GET", "/admin/audiences/nope") == (
        404,
        {"code": "not_found", "message": "no audience or computed trait named 'nope'"},
    )

    body = {
        "definition": "event('Signed Up').count() >= 1",
        "events": [
            {"type": "track", "event": "Signed Up", "userId": "p1", "timestamp": "2024-01-01T00:00:00Z"}
        ],
    }
    _, previewed = await admin(service.url, "POST", "/admin/audiences/preview", body)
    assert [r["userId"] for r in previewed["results"]] == ["p1"]
    status, bad = await admin(
        service.url, "POST", "/admin/audiences/preview", {"definition": "event(", "events": []}
    )
    assert status == 400 and bad["code"] == "bad_definition" and "column" in bad["message"]

    async with aiohttp.ClientSession() as session, session.get(service.url + "/metrics") as response:
        metrics = await response.text()
    assert 'gleap_actions_audience_entered_total{key="buyers"} 2.0' in metrics

    status, _ = await admin(service.url, "POST", "/admin/users/b1/delete")
    assert status == 200
    assert service.store.profiles.members() == {"buyers": 1, "orders": 1}


async def _metric(url: str, name: str) -> float | None:
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


async def test_lag_counts_events_the_stage_has_not_read(
    sandbox: SandboxThread, start_service: StartService
) -> None:
    service = await start_service(sandbox.url, sections=SECTIONS)
    status, _ = await post(service.url, "/v1/track", {"userId": "l1", "event": "Order Completed"})
    assert status == 200
    await wait_for(lambda: (sandbox.state.contact("l1") or {}).get("buyers") is True)
    await wait_for(lambda: service.store.profiles.lag(0.0) == (0, 0.0))
    _, stats = await admin(service.url, "GET", "/admin/stats")
    assert stats["audience_lag"] == {"events": 0, "oldest_age": 0.0}

    assert service.compute is not None
    await service.compute.stop()  # the stage stops reading; ingest goes on
    for user in ("l2", "l3", "l4"):
        status, _ = await post(service.url, "/v1/track", {"userId": user, "event": "Order Completed"})
        assert status == 200
    _, stats = await admin(service.url, "GET", "/admin/stats")
    assert stats["audience_lag"]["events"] == 3 and stats["audience_lag"]["oldest_age"] >= 0

    async def gauge_shows_three() -> None:  # refreshed by serve every second
        while await _metric(service.url, "gleap_actions_audience_lag_events") != 3.0:
            await asyncio.sleep(0.05)

    await asyncio.wait_for(gauge_shows_three(), 30)
    assert await _metric(service.url, "gleap_actions_audience_lag_seconds") is not None
