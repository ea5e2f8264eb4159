"""The console over plain HTTP against a real service: off without an admin token, sign-in and its cookie,
CSRF on every action, no secret in any page, and /admin/stats' delivered counts."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from console.conftest import (
    ADMIN_TOKEN,
    TOKEN,
    WRITE_KEY,
    Serve,
    admin,
    csrf_of,
    dead_lettered,
    http_sign_in,
    post,
    track,
    wait_for,
)
from gleap_actions.sandbox import SandboxThread

PAGES = (
    "/console/overview",
    "/console/events",
    "/console/mappings",
    "/console/dead-letters",
    "/console/audiences",
)


async def test_the_console_is_off_without_an_admin_token(serve: Serve, http: aiohttp.ClientSession) -> None:
    service = await serve(server={"admin_token": None})
    for path in ("/console/", "/console/login", *PAGES):
        async with http.get(service.url + path, allow_redirects=False) as r:
            assert r.status == 403, path
            assert "The console is off" in await r.text()
    async with http.post(service.url + "/console/login", data={"token": ""}) as r:
        assert r.status == 403


async def test_pages_need_a_session(serve: Serve, http: aiohttp.ClientSession) -> None:
    service = await serve()
    for path in PAGES:
        async with http.get(service.url + path, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/console/login", path
    for path in ("/console/overview/live", "/console/events/live"):
        async with http.get(service.url + path, allow_redirects=False) as r:
            assert r.status == 401
    async with http.post(
        service.url + "/console/dead-letters/purge", data={"ids": "1", "confirm": "yes"}
    ) as r:
        assert r.status == 401
    wrong = await http_sign_in(http, service.url, "admin-test-token-77d3")
    assert wrong.status == 401 and "Set-Cookie" not in wrong.headers
    # The Bearer header of the admin API does not open the console: it needs the sign-in.
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with http.get(service.url + "/console/overview", headers=headers, allow_redirects=False) as r:
        assert r.status == 303


async def test_session_cookie_flags_and_sign_out(serve: Serve, http: aiohttp.ClientSession) -> None:
    service = await serve()
    response = await http_sign_in(http, service.url)
    assert response.status == 303 and response.headers["Location"] == "/console/overview"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console/" in cookie
    assert "Secure" not in cookie  # plain HTTP here: a Secure cookie would never come back
    assert ADMIN_TOKEN not in cookie
    for path in PAGES:
        async with http.get(service.url + path, allow_redirects=False) as r:
            assert r.status == 200, path
            assert r.headers["Cache-Control"] == "no-store"
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    csrf = await csrf_of(http, service.url)
    async with http.post(service.url + "/console/logout", data={"csrf": csrf}, allow_redirects=False) as r:
        assert r.status == 303
    async with http.get(service.url + "/console/overview", allow_redirects=False) as r:
        assert r.status == 303  # the session is gone on the server, not only in this browser


async def test_cookie_is_secure_behind_tls(serve: Serve, http: aiohttp.ClientSession) -> None:
    service = await serve(server={"public_url": "https://events.example.com"})
    response = await http_sign_in(http, service.url)
    assert "Secure" in response.headers["Set-Cookie"]


async def test_actions_need_the_csrf_token_and_the_same_origin(
    serve: Serve, sandbox: SandboxThread, http: aiohttp.ClientSession
) -> None:
    service = await serve(retry_window=0.3)
    sandbox.set_faults(error_rate=1.0, error_status=503)
    await post(service.url, "/v1/track", track("csrf-user"))

    async def letters() -> list[dict[str, object]]:
        status, body = await admin(service.url, "GET", "/admin/dead-letters")
        assert status == 200
        return body["dead_letters"]  # type: ignore[no-any-return]

    letter = str((await dead_lettered(service.url))[0]["id"])
    await http_sign_in(http, service.url)
    csrf = await csrf_of(http, service.url)
    purge = service.url + "/console/dead-letters/purge"
    for form, headers in (
        ({"ids": letter, "confirm": "yes"}, {}),  # no token
        ({"ids": letter, "confirm": "yes", "csrf": ("y" if csrf[0] == "x" else "x") + csrf[1:]}, {}),  # wrong
        ({"ids": letter, "confirm": "yes", "csrf": csrf}, {"Origin": "https://evil.example"}),  # elsewhere
    ):
        async with http.post(purge, data=form, headers=headers, allow_redirects=False) as r:
            assert r.status == 403
    assert len(await letters()) == 1
    async with http.post(service.url + "/console/resume", data={}, allow_redirects=False) as r:
        assert r.status == 403
    # Without confirmation: a page asking for it, nothing purged.
    async with http.post(purge, data={"ids": letter, "csrf": csrf}, allow_redirects=False) as r:
        assert r.status == 200 and "Purge 1 dead letter(s)" in await r.text()
    assert len(await letters()) == 1
    async with http.post(
        purge, data={"ids": letter, "csrf": csrf, "confirm": "yes"}, allow_redirects=False
    ) as r:
        assert r.status == 303 and r.headers["Location"] == "/console/dead-letters?purged=1"
    assert await letters() == []


async def test_no_secret_in_any_page(
    serve: Serve, sandbox: SandboxThread, http: aiohttp.ClientSession
) -> None:
    service = await serve()
    await post(service.url, "/v1/track", {**track("secret-user"), "writeKey": WRITE_KEY})
    await post(service.url, "/v1/identify", {"userId": "secret-user", "traits": {"name": "Sam"}})
    await wait_for(lambda: len(sandbox.state.contacts()) == 1 and len(sandbox.state.events()) == 1)
    await http_sign_in(http, service.url)
    csrf = await csrf_of(http, service.url)
    bodies = []
    for path in (*PAGES, "/console/overview/live", "/console/events/live", "/console/login"):
        async with http.get(service.url + path) as r:
            assert r.status == 200, path
            bodies.append(await r.text())
    event = '{"type": "identify", "userId": "u1", "traits": {"name": "A"}}'
    async with http.post(service.url + "/console/mappings/test", data={"csrf": csrf, "event": event}) as r:
        bodies.append(await r.text())
    text = "\n".join(bodies)
    assert "secret-user" in text and "Api-Token" in text  # the pages did show the events and requests
    for secret in (TOKEN, WRITE_KEY, ADMIN_TOKEN):
        assert secret not in text


async def test_event_data_is_escaped(
    serve: Serve, sandbox: SandboxThread, http: aiohttp.ClientSession
) -> None:
    service = await serve()
    await post(service.url, "/v1/track", track("<script>alert(1)</script>", "<img src=x onerror=alert(2)>"))
    await wait_for(lambda: len(sandbox.state.events()) == 1)
    await http_sign_in(http, service.url)
    async with http.get(service.url + "/console/events") as r:
        page = await r.text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page and "<img src=x" not in page


async def test_admin_stats_counts_deliveries(serve: Serve, sandbox: SandboxThread) -> None:
    service = await serve()
    for i in range(2):
        await post(service.url, "/v1/track", track(f"s-{i}"))
    await wait_for(lambda: len(sandbox.state.events()) == 2)
    stats: dict[str, Any] = {}
    for _ in range(200):  # the count follows the acknowledgement, a moment after Gleap answered
        status, stats = await admin(service.url, "GET", "/admin/stats")
        assert status == 200
        if stats["mappings"]["Track Event"]["delivered"] == 2:
            break
        await asyncio.sleep(0.05)
    assert stats["mappings"]["Track Event"] == {
        "pending": 0,
        "retrying": 0,
        "in_flight": 0,
        "dead_letters": 0,
        "delivered": 2,
    }
