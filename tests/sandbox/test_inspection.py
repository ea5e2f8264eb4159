"""The inspection API: over HTTP (`/__sandbox/*`), from Python, and from another thread."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import pytest

from gleap_actions.sandbox import Faults, FaultSpecError, Sandbox, SandboxThread

from .helpers import TOKEN, event


async def fill(client: aiohttp.ClientSession, sandbox: SandboxThread) -> None:
    """Two users' events (one duplicated), two contacts, one deleted, one rejected request."""
    url = sandbox.url
    await client.post(url + "/admin/track", json={"events": [event("u1"), event("u2", "login"), event("u1")]})
    await client.post(url + "/admin/identify", json={"userId": "u1", "plan": "pro"})
    await client.post(url + "/admin/identify", json={"userId": "u2"})
    await client.delete(url + "/admin/contacts/u2")
    await client.get(url + "/admin/auth", headers={"Api-Token": "nope"})


async def get(client: aiohttp.ClientSession, url: str) -> Any:
    async with client.get(url) as resp:
        assert resp.status == 200
        return await resp.json()


async def test_stats_contacts_events_and_duplicates_over_http(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    await fill(client, sandbox)
    base = sandbox.url + "/__sandbox"
    assert await get(client, base + "/stats") == {
        "requests": 5,
        "requests_by_endpoint": {"track": 1, "identify": 2, "delete": 1, "auth": 1},
        "requests_by_status": {"200": 4, "401": 1},
        "events": 3,
        "unique_events": 2,
        "duplicate_events": 1,
        "users_with_events": 2,
        "contacts": 1,
        "contacts_deleted": 1,
        "identifies": 2,
    }
    assert await get(client, base + "/contacts") == {
        "count": 1,
        "contacts": {"u1": {"userId": "u1", "plan": "pro"}},
        "identifies": {"u1": 1, "u2": 1},  # identifies applied per user, deleted contacts included
    }
    assert await get(client, base + "/contacts/u1") == {"userId": "u1", "plan": "pro"}
    async with client.get(base + "/contacts/u2") as resp:
        assert resp.status == 404
    events = await get(client, base + "/events")
    assert events == {
        "total": 3,
        "unique": 2,
        "duplicates": 1,
        "users": 2,
        "events": [event("u1"), event("u1"), event("u2", "login")],
    }
    assert await get(client, base + "/events?userId=u2") == {
        "total": 1,
        "unique": 1,
        "duplicates": 0,
        "users": 1,
        "events": [event("u2", "login")],
    }
    u1 = await get(client, base + "/events?userId=u1")
    assert (u1["total"], u1["unique"], u1["duplicates"], u1["users"]) == (2, 1, 1, 1)
    nobody = await get(client, base + "/events?userId=nobody")
    assert (nobody["total"], nobody["unique"], nobody["duplicates"], nobody["users"]) == (0, 0, 0, 0)
    assert (await get(client, base + "/events?limit=1"))["events"] == [event("u1")]
    assert await get(client, base + "/duplicates") == {
        "duplicates": 1,
        "events": [{"event": event("u1"), "count": 2}],
    }


async def test_identify_updates_a_contact_key_by_key_and_is_logged_per_contact(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    url = sandbox.url
    updates = [
        {"userId": "u1", "email": "a@x.io", "plan": "free", "lastPageView": {"page": "/a", "date": "d1"}},
        {"userId": "u1", "plan": "pro", "lastPageView": {"page": "/b"}},
    ]
    for body in updates:
        async with client.post(url + "/admin/identify", json=body) as resp:
            assert resp.status == 200
    async with client.post(url + "/admin/identify", json={"plan": "no user id"}) as resp:
        assert resp.status == 400
    # Later keys win, keys not sent are kept, an object value is replaced whole.
    assert await get(client, url + "/__sandbox/contacts/u1") == {
        "userId": "u1",
        "email": "a@x.io",
        "plan": "pro",
        "lastPageView": {"page": "/b"},
    }
    assert await get(client, url + "/__sandbox/contacts/u1/identifies") == {"count": 2, "identifies": updates}
    assert sandbox.state.identify_counts() == {"u1": 2}


async def test_the_request_log_over_http_redacts_the_token(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    await fill(client, sandbox)
    log = await get(client, sandbox.url + "/__sandbox/requests")
    assert (log["total"], log["by_status"]) == (5, {"200": 4, "401": 1})
    first, *_, last = log["requests"]
    assert first["method"] == "POST"
    assert first["path"] == "/admin/track"
    assert first["endpoint"] == "track"
    assert (first["status"], first["fault"], first["token_ok"]) == (200, None, True)
    assert first["headers"]["Api-Token"] == "***"
    assert first["body"]["events"][1] == event("u2", "login")
    assert (last["endpoint"], last["status"], last["token_ok"]) == ("auth", 401, False)
    assert TOKEN not in str(log)
    only = await get(client, sandbox.url + "/__sandbox/requests?endpoint=identify&limit=1")
    assert [r["body"] for r in only["requests"]] == [{"userId": "u2"}]
    async with client.get(sandbox.url + "/__sandbox/requests?limit=-1") as resp:
        assert resp.status == 400


async def test_reset_over_http_forgets_everything_but_keeps_faults(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    await fill(client, sandbox)
    sandbox.set_faults(latency=0.001)
    async with client.post(sandbox.url + "/__sandbox/reset") as resp:
        assert resp.status == 200
    stats = await get(client, sandbox.url + "/__sandbox/stats")
    assert (stats["requests"], stats["events"], stats["contacts"], stats["duplicate_events"]) == (0, 0, 0, 0)
    assert (await get(client, sandbox.url + "/__sandbox/requests"))["requests"] == []
    assert sandbox.faults.latency == 0.001


async def test_the_request_log_is_bounded_but_counts_everything(client: aiohttp.ClientSession) -> None:
    async with Sandbox(api_token=TOKEN, faults=Faults(rate_limit=None), request_log_size=3) as sandbox:
        for i in range(5):
            await client.post(sandbox.url + "/admin/identify", json={"userId": f"u{i}"})
        assert [r.json_body()["userId"] for r in sandbox.state.requests()] == ["u2", "u3", "u4"]
        assert [r.seq for r in sandbox.state.requests(limit=2)] == [4, 5]
        assert sandbox.state.request_count() == 5
        assert sandbox.state.request_count("identify") == 5


async def test_the_python_api_mirrors_http(sandbox: SandboxThread, client: aiohttp.ClientSession) -> None:
    await fill(client, sandbox)
    state = sandbox.state
    assert state.contacts() == {"u1": {"userId": "u1", "plan": "pro"}}
    assert state.contact("u2") is None
    assert state.events() == [event("u1"), event("u1"), event("u2", "login")]
    assert (state.event_count(), state.event_count("u1"), state.duplicate_count()) == (3, 2, 1)
    assert state.duplicates() == [(event("u1"), 2)]
    assert [(r.endpoint, r.status) for r in state.requests(endpoint="delete")] == [("delete", 200)]
    copy = state.contacts()
    copy["u1"]["plan"] = "changed"
    assert state.contact("u1") == {"userId": "u1", "plan": "pro"}  # readers return copies
    state.reset()
    assert state.stats().requests == 0


def call(method: str, url: str, body: Any = None) -> int:
    """A plain synchronous HTTP request with the sandbox token; the status."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Api-Token": TOKEN, "Content-Type": "application/json"}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_sandbox_thread_serves_synchronous_code() -> None:
    with SandboxThread(api_token=TOKEN, faults=Faults(rate_limit=None)) as sandbox:
        assert call("POST", sandbox.url + "/admin/track", {"events": [event()]}) == 200
        assert sandbox.state.events() == [event()]
        assert sandbox.set_faults(error_rate=1.0, error_status=502).error_status == 502
        assert call("GET", sandbox.url + "/admin/auth") == 502
        with pytest.raises(FaultSpecError, match="error_status"):
            sandbox.set_faults(error_status=418)
        sandbox.reset_faults()
        assert call("GET", sandbox.url + "/admin/auth") == 200
        url = sandbox.url
    with pytest.raises(urllib.error.URLError):
        call("GET", url + "/admin/auth")


def test_sandbox_thread_reports_a_port_already_in_use() -> None:
    with SandboxThread() as first, pytest.raises(OSError):
        SandboxThread(port=first.port).start()
