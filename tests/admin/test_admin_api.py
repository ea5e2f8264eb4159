"""The admin API over real HTTP on 127.0.0.1 and a real SQLite store: auth, stats, dead letters, preview,
user deletion and reload (the last two are the embedder's operations, passed in as callables)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gleap_actions.admin.api import AdminAPI
from gleap_actions.config import load_config
from gleap_actions.preview import preview_body
from gleap_actions.queue.sqlite.store import SQLiteStore
from gleap_actions.queue.store import NewEvent

TOKEN = "admin-unit-token-3b1e"


@dataclass
class Admin:
    """A running admin API and what its callables were asked to do."""

    url: str
    store: SQLiteStore
    deleted: list[str] = field(default_factory=list)
    reloads: list[bool] = field(default_factory=list)
    replays: list[bool] = field(default_factory=list)
    reload_ok: bool = True

    async def call(
        self, method: str, path: str, body: Any = None, *, token: str | None = TOKEN
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url + path, json=body, headers=headers) as resp,
        ):
            return resp.status, await resp.json(content_type=None)


StartAdmin = Callable[..., Awaitable[Admin]]


@pytest.fixture
async def start_admin(store: SQLiteStore) -> AsyncIterator[StartAdmin]:
    runners: list[web.AppRunner] = []
    config = load_config(None, env={})

    async def start(token: str | None = TOKEN) -> Admin:
        admin = Admin("", store)

        async def delete_user(user_id: str, destinations: tuple[str, ...]) -> dict[str, Any]:
            admin.deleted.append(user_id + "".join(f"@{d}" for d in destinations))
            return {"ok": user_id != "refused", "dropped": 0}

        async def reload() -> dict[str, Any]:
            admin.reloads.append(True)
            return {"ok": True} if admin.reload_ok else {"ok": False, "errors": ["gleap.api_token: bad"]}

        app = web.Application()
        AdminAPI(
            store,
            token,
            run=asyncio.to_thread,
            preview=lambda body, batch, _destination: preview_body(body, config, batch=batch),
            delete_user=delete_user,
            reload=reload,
            on_replay=lambda: admin.replays.append(True),
        ).add_routes(app)
        runner = web.AppRunner(app)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        admin.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return admin

    yield start
    for runner in runners:
        await runner.cleanup()


def dead_letters(
    store: SQLiteStore, mapping: str, count: int, *, reason: str = "HTTP 400: bad", status: int | None = 400
) -> list[int]:
    """Store `count` events routed to `mapping` and dead-letter their deliveries; returns the events' ids."""
    now = time.time()
    events = [
        NewEvent(f"src-{mapping}", f"m-{mapping}-{i}", f"u{i}", "track", now, b'{"event":"x","n":%d}' % i)
        for i in range(count)
    ]
    store.append(events)
    claimed = store.claim_unrouted("test", 100, 60.0)
    store.route([(event.id, [mapping]) for event in claimed])
    deliveries = store.claim_deliveries("test", mapping, 100, 60.0, time.time())
    store.dead_letter(
        [d.id for d in deliveries], reason=reason, status=status, request='{"a":1}', response="nope"
    )
    return [event.id for event in claimed]


async def test_without_a_token_every_route_is_off(start_admin: StartAdmin) -> None:
    admin = await start_admin(token=None)
    status, body = await admin.call("GET", "/admin/stats")
    assert (status, body["code"]) == (403, "admin_disabled")


@pytest.mark.parametrize("token", [None, "wrong", ""])
async def test_a_missing_or_wrong_token_is_refused(start_admin: StartAdmin, token: str | None) -> None:
    admin = await start_admin()
    for method, path in [
        ("GET", "/admin/stats"),
        ("POST", "/admin/dead-letters/purge"),
        ("POST", "/admin/reload"),
    ]:
        status, body = await admin.call(method, path, {"all": True}, token=token)
        assert (status, body["code"]) == (401, "unauthorized")
    assert admin.reloads == [] and admin.deleted == []


async def test_stats_count_per_mapping(start_admin: StartAdmin, store: SQLiteStore) -> None:
    admin = await start_admin()
    dead_letters(store, "track", 2)
    status, body = await admin.call("GET", "/admin/stats")
    assert status == 200
    assert (body["dead_letters"], body["pending"], body["unrouted"]) == (2, 0, 0)
    # `delivered` counts this process's acknowledged deliveries (none here: no pipeline runs).
    assert body["mappings"] == {
        "track": {"pending": 0, "retrying": 0, "in_flight": 0, "dead_letters": 2, "delivered": 0}
    }


async def test_dead_letters_list_page_and_show(start_admin: StartAdmin, store: SQLiteStore) -> None:
    admin = await start_admin()
    dead_letters(store, "a", 2)
    dead_letters(store, "b", 1)
    status, body = await admin.call("GET", "/admin/dead-letters")
    assert status == 200 and [d["mapping"] for d in body["dead_letters"]] == ["a", "a", "b"]
    first = body["dead_letters"][0]
    assert (first["status"], first["attempts"], first["reason"]) == (400, 1, "HTTP 400: bad")
    assert "request" not in first  # the listing is short; `show` has everything
    _, page = await admin.call("GET", f"/admin/dead-letters?after={first['id']}&limit=1")
    assert [d["id"] for d in page["dead_letters"]] == [body["dead_letters"][1]["id"]]
    _, only_b = await admin.call("GET", "/admin/dead-letters?mapping=b")
    assert [d["mapping"] for d in only_b["dead_letters"]] == ["b"]
    status, shown = await admin.call("GET", f"/admin/dead-letters/{first['id']}")
    assert status == 200
    assert (shown["request"], shown["response"], shown["event"]) == ({"a": 1}, "nope", {"event": "x", "n": 0})
    assert (await admin.call("GET", "/admin/dead-letters/999999"))[0] == 404
    assert (await admin.call("GET", "/admin/dead-letters/x"))[0] == 400
    assert (await admin.call("GET", "/admin/dead-letters?limit=0"))[0] == 400


async def test_replay_and_purge_by_selection(start_admin: StartAdmin, store: SQLiteStore) -> None:
    admin = await start_admin()
    dead_letters(store, "a", 2)
    dead_letters(store, "b", 2)
    letters = store.list_dead_letters()
    status, body = await admin.call("POST", "/admin/dead-letters/replay", {"ids": [letters[0].id]})
    assert (status, body, admin.replays) == (200, {"replayed": 1}, [True])
    assert store.stats(time.time()).pending == 1
    status, body = await admin.call("POST", "/admin/dead-letters/purge", {"mapping": "b"})
    assert (status, body) == (200, {"purged": 2})
    assert [d.mapping for d in store.list_dead_letters()] == ["a"]
    assert (await admin.call("POST", "/admin/dead-letters/purge", {"all": True}))[1] == {"purged": 1}


async def test_dead_letters_by_destination_mapping_reason_and_status(
    start_admin: StartAdmin, store: SQLiteStore
) -> None:
    admin = await start_admin()
    dead_letters(store, "eu/Track", 2)
    dead_letters(store, "eu/Page", 1, reason="timeout", status=None)
    dead_letters(store, "Track", 1)

    async def listed(query: str) -> list[tuple[str, str]]:
        status, body = await admin.call("GET", "/admin/dead-letters?" + query)
        assert status == 200, body
        return [(d["destination"], d["mapping"]) for d in body["dead_letters"]]

    assert await listed("destination=eu") == [("eu", "eu/Track")] * 2 + [("eu", "eu/Page")]
    assert await listed("destination=eu&mapping=Track") == [("eu", "eu/Track")] * 2  # named within eu
    assert await listed("destination=eu&reason=timeout") == [("eu", "eu/Page")]
    assert await listed("destination=default&status=400") == [("default", "Track")]
    assert await listed("mapping=eu/Page") == [("eu", "eu/Page")]  # a delivery key alone, as before
    status, body = await admin.call("GET", "/admin/dead-letters?status=abc")
    assert (status, body["code"]) == (400, "bad_query") and "status" in body["message"]
    status, body = await admin.call(
        "POST", "/admin/dead-letters/replay", {"destination": "eu", "status": 400}
    )
    assert (status, body) == (200, {"replayed": 2})
    status, body = await admin.call(
        "POST", "/admin/dead-letters/purge", {"destination": "eu", "mapping": "Page"}
    )
    assert (status, body) == (200, {"purged": 1})
    assert [d.mapping for d in store.list_dead_letters()] == ["Track"]
    _, stats = await admin.call("GET", "/admin/stats")
    assert stats["destination_queues"]["eu"]["pending"] == 2
    assert stats["destination_queues"]["default"]["dead_letters"] == 1


@pytest.mark.parametrize("body", [{}, [], {"ids": ["1"]}, {"ids": [-1]}, {"mapping": 3}, {"all": False}])
async def test_a_selection_must_say_which(start_admin: StartAdmin, store: SQLiteStore, body: Any) -> None:
    admin = await start_admin()
    dead_letters(store, "a", 1)
    status, answer = await admin.call("POST", "/admin/dead-letters/purge", body)
    assert (status, answer["code"]) == (400, "bad_selection")
    assert len(store.list_dead_letters()) == 1


async def test_preview_shows_the_requests_of_an_event(start_admin: StartAdmin) -> None:
    admin = await start_admin()
    event = {"type": "track", "event": "Signed Up", "userId": "u1", "messageId": "m1"}
    status, body = await admin.call("POST", "/admin/preview", event)
    assert status == 200 and body["results"]
    [request] = body["results"]
    assert (request["mapping"], request["method"], request["url"]) == (
        "Track Event",
        "POST",
        "https://api.gleap.io/admin/track",
    )
    assert request["headers"]["Api-Token"] == "***"  # never the token
    assert request["body"]["events"][0]["name"] == "Signed Up"


async def test_delete_user_and_reload_call_the_operations(start_admin: StartAdmin) -> None:
    admin = await start_admin()
    assert (await admin.call("POST", "/admin/users/u-7/delete"))[0] == 200
    assert (await admin.call("POST", "/admin/users/refused/delete"))[0] == 502
    assert (await admin.call("POST", "/admin/users/u-8/delete?destination=prod&destination=eu"))[0] == 200
    assert admin.deleted == ["u-7", "refused", "u-8@prod@eu"]
    assert await admin.call("POST", "/admin/reload") == (200, {"ok": True})
    admin.reload_ok = False
    status, body = await admin.call("POST", "/admin/reload")
    assert (status, body["errors"]) == (400, ["gleap.api_token: bad"])
