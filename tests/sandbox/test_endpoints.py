"""Gleap's API as the sandbox serves it: every endpoint, the token check, and body validation."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from gleap_actions.sandbox import SandboxThread

from .helpers import TOKEN, event


async def post(client: aiohttp.ClientSession, url: str, body: Any = None, **kwargs: Any) -> tuple[int, Any]:
    async with client.post(url, json=body, **kwargs) as resp:
        return resp.status, await resp.json()


async def test_track_stores_events_per_user_as_sent(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    events = [event("u1", "signup"), event("u2", "login"), event("u1", "checkout.step", data={"n": 1})]
    status, body = await post(client, sandbox.url + "/admin/track", {"events": events})
    assert (status, body) == (200, {"success": True})
    assert sandbox.state.events("u1") == [events[0], events[2]]
    assert sandbox.state.events("u2") == [events[1]]
    assert list(sandbox.state.events("u1")[1]) == ["name", "date", "data", "userId"]  # key order as sent
    assert sandbox.state.event_count() == 3
    assert sandbox.state.duplicate_count() == 0


async def test_track_counts_duplicates_of_user_name_date_and_data(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    first = event("u1", "signup", data={"a": 1, "b": 2})
    reordered = {"userId": "u1", "data": {"b": 2, "a": 1}, "date": first["date"], "name": "signup"}
    other_date = event("u1", "signup", data={"a": 1, "b": 2}, date="2024-05-17T10:44:01.000Z")
    for batch in ([first, reordered], [other_date, first]):
        assert (await post(client, sandbox.url + "/admin/track", {"events": batch}))[0] == 200
    stats = sandbox.state.stats()
    assert (stats.events, stats.unique_events, stats.duplicate_events) == (4, 2, 2)
    assert sandbox.state.duplicates() == [(first, 3)]


async def test_track_accepts_optional_date_and_data(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    status, _ = await post(client, sandbox.url + "/admin/track", {"events": [{"name": "x", "userId": "u"}]})
    assert status == 200
    assert sandbox.state.events("u") == [{"name": "x", "userId": "u"}]


async def test_identify_creates_and_merges_contacts(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    url = sandbox.url + "/admin/identify"
    assert (await post(client, url, {"userId": "u1", "email": "a@example.com", "plan": "free"}))[0] == 200
    assert (await post(client, url, {"userId": "u1", "plan": "pro", "logins": 3}))[0] == 200
    assert sandbox.state.contact("u1") == {
        "userId": "u1",
        "email": "a@example.com",
        "plan": "pro",
        "logins": 3,
    }
    assert sandbox.state.stats().identifies == 2


async def test_auth_answers_200_for_the_right_token(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    async with client.get(sandbox.url + "/admin/auth") as resp:
        assert (resp.status, await resp.json()) == (200, {"success": True})


async def test_delete_removes_a_percent_encoded_contact(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    user_id = "team/a b@x?y"
    await post(client, sandbox.url + "/admin/identify", {"userId": user_id})
    await post(client, sandbox.url + "/admin/identify", {"userId": "other"})
    url = sandbox.url + "/admin/contacts/team%2Fa%20b%40x%3Fy"
    async with client.delete(url) as resp:
        assert (resp.status, await resp.json()) == (200, {"success": True})
    assert sandbox.state.contacts().keys() == {"other"}
    async with client.delete(url) as resp:
        assert (resp.status, await resp.json()) == (404, {"error": "Contact not found"})
    assert sandbox.state.stats().contacts_deleted == 1


async def test_unknown_admin_path_is_a_json_404(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    async with client.get(sandbox.url + "/admin/nothing") as resp:
        assert resp.status == 404
        assert "error" in await resp.json()


@pytest.mark.parametrize(
    "headers", [{}, {"Api-Token": "wrong"}, {"Api-Token": ""}, {"Api-Token": "Bearer " + TOKEN}]
)
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/admin/track", {"events": [event()]}),
        ("POST", "/admin/identify", {"userId": "u1"}),
        ("GET", "/admin/auth", None),
        ("DELETE", "/admin/contacts/u1", None),
    ],
)
async def test_every_endpoint_rejects_a_missing_or_wrong_token(
    sandbox: SandboxThread, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    sandbox.state.identify("u1", {"userId": "u1"})
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sandbox.url + path, json=body, headers=headers) as resp,
    ):
        assert resp.status == 401
        assert (await resp.json())["error"]
    assert sandbox.state.event_count() == 0
    assert sandbox.state.contacts() == {"u1": {"userId": "u1"}}
    [logged] = sandbox.state.requests()
    assert (logged.status, logged.token_ok) == (401, False)


@pytest.mark.parametrize(
    ("bad_event", "message"),
    [
        ({"name": "x", "date": "2024-01-01T00:00:00Z"}, "events[1]: userId is required"),
        ({"name": "x", "userId": ""}, "events[1]: userId is required"),
        ({"name": "x", "userId": 42}, "events[1]: userId must be a string"),
        ({"userId": "u", "date": "2024-01-01T00:00:00Z"}, "events[1]: name is required"),
        ({"userId": "u", "name": None}, "events[1]: name is required"),
        ({"userId": "u", "name": "x", "date": "May 5 2024"}, "events[1]: date must be an ISO 8601 date"),
        ({"userId": "u", "name": "x", "date": "2024-02-30"}, "events[1]: date must be an ISO 8601 date"),
        ({"userId": "u", "name": "x", "date": 1717000000000}, "events[1]: date must be an ISO 8601 date"),
        ({"userId": "u", "name": "x", "data": [1, 2]}, "events[1]: data must be an object"),
        ("not an event", "events[1]: must be an object"),
    ],
)
async def test_an_invalid_track_event_rejects_the_whole_batch(
    sandbox: SandboxThread, client: aiohttp.ClientSession, bad_event: Any, message: str
) -> None:
    status, body = await post(client, sandbox.url + "/admin/track", {"events": [event(), bad_event, event()]})
    assert status == 400
    assert body["error"].startswith(message)
    assert body["index"] == 1
    assert sandbox.state.event_count() == 0


@pytest.mark.parametrize(
    ("path", "raw", "message"),
    [
        ("/admin/track", b"[]", "body must be a JSON object"),
        ("/admin/track", b'"events"', "body must be a JSON object"),
        ("/admin/track", b'{"events": {}}', "events must be an array"),
        ("/admin/track", b"{}", "events must be an array"),
        ("/admin/track", b'{"events": [', "invalid JSON"),
        ("/admin/track", b"", "invalid JSON"),
        ("/admin/identify", b"[1]", "body must be a JSON object"),
        ("/admin/identify", b'{"email": "a@b.c"}', "userId is required"),
        ("/admin/identify", b'{"userId": "u", "createdAt": "yesterday"}', "createdAt must be an ISO 8601"),
        ("/admin/identify", b"\xff\xfe", "invalid JSON"),
    ],
)
async def test_malformed_bodies_get_a_400_with_a_json_error(
    sandbox: SandboxThread, client: aiohttp.ClientSession, path: str, raw: bytes, message: str
) -> None:
    async with client.post(
        sandbox.url + path, data=raw, headers={"Content-Type": "application/json"}
    ) as resp:
        assert resp.status == 400
        assert resp.content_type == "application/json"
        assert (await resp.json())["error"].startswith(message)
    assert sandbox.state.contacts() == {}
    assert sandbox.state.event_count() == 0


async def test_an_empty_event_list_is_accepted(sandbox: SandboxThread, client: aiohttp.ClientSession) -> None:
    assert await post(client, sandbox.url + "/admin/track", {"events": []}) == (200, {"success": True})
