"""`Service`: ingest -> store -> pipeline -> sandbox, the admin API, metrics, reload, deletion, restart."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from gleap_actions.config import load_config
from gleap_actions.sandbox import Outage, SandboxThread
from gleap_actions.service import Service

from .conftest import ADMIN_TOKEN, TOKEN, WRITE_KEY, admin, post, wait_for, write_config

StartService = Callable[..., Awaitable[Service]]

BATCH = {
    "batch": [
        {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"total": 12.5}},
        {"type": "page", "userId": "u1", "name": "Pricing", "context": {"page": {"url": "https://x.io/p"}}},
        {"type": "screen", "userId": "u2", "name": "Home"},
        {"type": "identify", "userId": "u1", "traits": {"email": "ann@example.com", "plan": "pro"}},
        {"type": "group", "userId": "u1", "groupId": "g1"},
        {"type": "alias", "userId": "u1", "previousId": "anon-1"},
    ],
    "sentAt": "2024-05-01T10:00:00.000Z",
}


async def test_every_call_type_reaches_the_sandbox(
    sandbox: SandboxThread, start_service: StartService
) -> None:
    service = await start_service(sandbox.url)
    status, body = await post(service.url, "/v1/batch", BATCH)
    assert (status, body) == (200, {"success": True})
    await wait_for(lambda: sandbox.state.event_count() == 3 and sandbox.state.contact("u1") is not None)
    names = sorted(e["name"] for e in sandbox.state.events())
    assert names == ["Order Completed", "pageView", "pageView"]
    assert sandbox.state.contact("u1")["email"] == "ann@example.com"  # type: ignore[index]
    # group and alias have no default mapping: accepted, stored, filtered as unmatched, never an error.
    status, stats = await admin(service.url, "GET", "/admin/stats")
    assert status == 200 and stats["dead_letters"] == 0


async def test_single_endpoints_and_write_key_in_body(
    sandbox: SandboxThread, start_service: StartService
) -> None:
    service = await start_service(sandbox.url)
    assert (await post(service.url, "/v1/track", {"userId": "u9", "event": "A"}))[0] == 200
    body = {"userId": "u9", "event": "B", "writeKey": WRITE_KEY}
    assert (await post(service.url, "/v1/track", body, key=None))[0] == 200
    status, error = await post(service.url, "/v1/track", {"userId": "u9", "event": "C"}, key="nope")
    assert status == 401 and error["code"] == "unauthorized"
    await wait_for(lambda: sandbox.state.event_count("u9") == 2)


async def test_integrations_object_filters(sandbox: SandboxThread, start_service: StartService) -> None:
    service = await start_service(sandbox.url)
    off = {"userId": "u3", "event": "Off", "integrations": {"Gleap (Action)": False}}
    on = {"userId": "u3", "event": "On", "integrations": {"All": False, "Gleap (Action)": True}}
    for event in (off, on):
        assert (await post(service.url, "/v1/track", event))[0] == 200
    await wait_for(lambda: sandbox.state.event_count("u3") == 1)
    await asyncio.sleep(0.3)
    assert [e["name"] for e in sandbox.state.events("u3")] == ["On"]
    async with aiohttp.ClientSession() as session, session.get(service.url + "/metrics") as r:
        metrics = await r.text()
    assert 'gleap_actions_filtered_events_total{reason="integrations"} 1.0' in metrics


async def test_health_ready_metrics(sandbox: SandboxThread, start_service: StartService) -> None:
    service = await start_service(sandbox.url)
    async with aiohttp.ClientSession() as session:
        for path in ("/health", "/ready"):
            async with session.get(service.url + path) as r:
                assert r.status == 200
        async with session.get(service.url + "/metrics") as r:
            text = await r.text()
    for name in ("gleap_actions_delivered", "gleap_actions_queue", "gleap_actions_concurrency_limit"):
        assert name in text
    assert TOKEN not in text and WRITE_KEY not in text and ADMIN_TOKEN not in text


async def test_admin_api_requires_its_token(sandbox: SandboxThread, start_service: StartService) -> None:
    service = await start_service(sandbox.url)
    assert (await admin(service.url, "GET", "/admin/stats", token=None))[0] == 401
    assert (await admin(service.url, "GET", "/admin/stats", token="wrong"))[0] == 401
    assert (await admin(service.url, "GET", "/admin/stats", token=WRITE_KEY))[0] == 401
    assert (await admin(service.url, "GET", "/admin/stats"))[0] == 200


async def test_retry_window_expiry_dead_letters_then_replay(
    sandbox: SandboxThread, start_service: StartService
) -> None:
    sandbox.set_faults(error_rate=1.0, error_status=503)
    service = await start_service(sandbox.url, retry_window=0.5)
    assert (await post(service.url, "/v1/track", {"userId": "u4", "event": "Late"}))[0] == 200
    await wait_for(lambda: _dead_letters(service) == 1)
    status, listing = await admin(service.url, "GET", "/admin/dead-letters")
    assert status == 200
    [letter] = listing["dead_letters"]
    assert letter["mapping"] == "Track Event" and "503" in letter["reason"]
    status, full = await admin(service.url, "GET", f"/admin/dead-letters/{letter['id']}")
    assert full["event"]["event"] == "Late"
    assert full["request"]["headers"]["Api-Token"] == "***"
    assert TOKEN not in str(full)
    assert sandbox.state.event_count("u4") == 0

    sandbox.set_faults(error_rate=0.0)
    status, replayed = await admin(service.url, "POST", "/admin/dead-letters/replay", {"ids": [letter["id"]]})
    assert (status, replayed) == (200, {"replayed": 1})
    await wait_for(lambda: sandbox.state.event_count("u4") == 1)
    assert (await admin(service.url, "GET", "/admin/dead-letters"))[1]["dead_letters"] == []


async def test_purge_dead_letters(sandbox: SandboxThread, start_service: StartService) -> None:
    service = await start_service(sandbox.url)
    # No userId: the track preset rejects it; a payload rejection is dead-lettered at once.
    assert (await post(service.url, "/v1/track", {"anonymousId": "a1", "event": "Anon"}))[0] == 200
    await wait_for(lambda: _dead_letters(service) == 1)
    [letter] = (await admin(service.url, "GET", "/admin/dead-letters"))[1]["dead_letters"]
    assert "userId" in letter["reason"]
    assert (await admin(service.url, "POST", "/admin/dead-letters/purge", {}))[0] == 400
    status, purged = await admin(service.url, "POST", "/admin/dead-letters/purge", {"all": True})
    assert (status, purged) == (200, {"purged": 1})


async def test_invalid_token_pauses_then_reload_resumes(
    sandbox: SandboxThread, start_service: StartService, tmp_path: Path
) -> None:
    service = await start_service(sandbox.url)
    config_path = write_config(tmp_path, sandbox.url, token="wrong-token")
    service.settings = load_config(config_path).gleap  # as if started with the wrong token
    assert service.pipeline is not None
    service.pipeline.resume(service.settings)
    assert (await post(service.url, "/v1/track", {"userId": "u5", "event": "Paused"}))[0] == 200
    paused = {"destination": "default"}
    await wait_for(lambda: _sample(service, "gleap_actions_credentials_paused", paused) == 1.0)
    await asyncio.sleep(0.3)
    assert sandbox.state.event_count("u5") == 0 and _dead_letters(service) == 0

    write_config(tmp_path, sandbox.url)  # the operator fixes the token
    status, result = await admin(service.url, "POST", "/admin/reload")
    assert (status, result["ok"], result["unconfigured"]) == (200, True, {})
    await wait_for(lambda: sandbox.state.event_count("u5") == 1)
    # The sandbox counts the event before serve has its answer: the gauge follows a moment later.
    await wait_for(lambda: _sample(service, "gleap_actions_credentials_paused", paused) == 0.0)
    assert _dead_letters(service) == 0


async def test_delete_user_drops_queue_and_contact(
    sandbox: SandboxThread, start_service: StartService
) -> None:
    # After one failed attempt, events wait 30 s for their retry: they are queued when the user is deleted.
    service = await start_service(sandbox.url, initial_backoff=30, max_backoff=60)
    assert (await post(service.url, "/v1/identify", {"userId": "u6", "traits": {"plan": "x"}}))[0] == 200
    await wait_for(lambda: sandbox.state.contact("u6") is not None)
    sandbox.set_faults(error_rate=1.0, error_status=503)
    for user in ("u6", "other"):
        assert (await post(service.url, "/v1/track", {"userId": user, "event": "Queued"}))[0] == 200
    await wait_for(lambda: sandbox.state.request_count("track") >= 1)
    sandbox.set_faults(error_rate=0.0)
    status, result = await admin(service.url, "POST", "/admin/users/u6/delete")
    # Both of the user's stored events go (the queued track and the delivered identify kept for retention);
    # `dropped` counts the one that had not reached Gleap yet.
    assert status == 200 and result["ok"] and result["dropped"] == 1
    assert sandbox.state.contact("u6") is None
    assert service.store.stats(time.time()).pending == 1  # the other user's event still waits


async def test_delete_user_dot_dot_through_admin(sandbox: SandboxThread, start_service: StartService) -> None:
    """`/admin/users/%2E%2E/delete` deletes the contact `..` (sent encoded, so no client normalises it)."""
    service = await start_service(sandbox.url)
    sandbox.state.identify("..", {"email": "dots@example.com"})
    sandbox.state.identify("bystander", {"email": "b@example.com"})
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    url = URL(service.url + "/admin/users/%2E%2E/delete", encoded=True)
    async with aiohttp.ClientSession() as session, session.post(url, headers=headers) as r:
        assert r.status == 200
        assert (await r.json())["ok"] is True
    assert sandbox.state.contact("..") is None and sandbox.state.contact("bystander") is not None
    assert sandbox.state.requests(endpoint="delete")[-1].path == "/admin/contacts/%2E%2E"


async def test_preview_through_admin(sandbox: SandboxThread, start_service: StartService) -> None:
    service = await start_service(sandbox.url)
    event = {"type": "track", "userId": "u7", "event": "Viewed", "timestamp": "2024-05-01T10:00:00Z"}
    status, body = await admin(service.url, "POST", "/admin/preview", event)
    assert status == 200
    [line] = body["results"]
    assert line["url"] == f"{sandbox.url}/admin/track" and line["headers"]["Api-Token"] == "***"
    assert line["body"]["events"][0]["name"] == "Viewed"
    assert sandbox.state.request_count() == 0  # nothing was sent


async def test_admin_preview_takes_the_same_json_lines_as_the_cli(
    sandbox: SandboxThread, start_service: StartService
) -> None:
    service = await start_service(sandbox.url)
    jsonl = (Path(__file__).parent.parent / "data" / "segment-export-2024.jsonl").read_bytes() + b"not json\n"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(service.url + "/admin/preview", data=jsonl, headers=headers) as response,
    ):
        assert response.status == 200
        results = (await response.json())["results"]
    assert [line["event_index"] for line in results] == [0, 1, 2, 3, 4, 5]
    assert results[0]["body"]["events"][0]["date"] == "2024-03-01T11:00:01.278Z"  # its own date, kept
    assert results[5]["status"] == 400 and results[5]["line"] == 6


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/v1/nothing", 404, "not_found"),
        ("GET", "/v1/track", 405, "method_not_allowed"),
        ("GET", "/admin/nothing", 404, "not_found"),
        ("DELETE", "/admin/stats", 405, "method_not_allowed"),
    ],
)
async def test_unknown_endpoints_and_methods_answer_json(
    sandbox: SandboxThread, start_service: StartService, method: str, path: str, status: int, code: str
) -> None:
    service = await start_service(sandbox.url)
    answer = await admin(service.url, method, path)
    assert answer[0] == status and answer[1]["code"] == code and answer[1]["message"]


async def test_preview_through_admin_rejects_a_bad_event_alone(
    sandbox: SandboxThread, start_service: StartService
) -> None:
    """Too deep to write as JSON, a date past year 9999: each is a result line, the good one is previewed."""
    service = await start_service(sandbox.url)
    good = {"type": "track", "userId": "u7", "event": "Viewed"}
    deep = '{"a":' * 300 + "1" + "}" * 300
    body = (
        f'[{{"type":"track","userId":"u7","event":"Deep","properties":{deep}}},'
        '{"type":"track","userId":"u7","event":"Late","timestamp":"9999-12-31T23:59:59-14:00"},'
        f"{json.dumps(good)}]"
    )
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(service.url + "/admin/preview", data=body, headers=headers) as r,
    ):
        assert r.status == 200
        results = (await r.json())["results"]
    assert [(line["event_index"], line.get("status")) for line in results] == [(0, 400), (1, 400), (2, None)]
    assert "254 levels" in results[0]["error"] and "timestamp" in results[1]["error"]
    assert results[2]["body"]["events"][0]["name"] == "Viewed"


async def test_restart_delivers_the_backlog(sandbox: SandboxThread, tmp_path: Path) -> None:
    sandbox.set_faults(outage=Outage(duration=3600, mode="refuse"))
    config = load_config(write_config(tmp_path, sandbox.url))
    first = Service(config)
    await first.start()
    events = [{"type": "track", "userId": "u8", "event": f"E{i}"} for i in range(50)]
    assert (await post(first.url, "/v1/batch", {"batch": events}))[0] == 200
    await asyncio.sleep(0.2)
    await first.stop(timeout=1)

    sandbox.set_faults(outage=None)
    second = Service(config)
    await second.start()
    try:
        await wait_for(lambda: sandbox.state.event_count("u8") == 50)
    finally:
        await second.stop(timeout=2)
    assert sandbox.state.duplicate_count() == 0


def _sample(service: Service, name: str, labels: dict[str, str] | None = None) -> float | None:
    return service.registry.get_sample_value(name, labels or {})


def _dead_letters(service: Service) -> int:
    return len(service.store.list_dead_letters(limit=1000))


@pytest.mark.parametrize("host", ["0.0.0.0"])
def test_serve_refuses_public_bind_without_write_keys(host: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "gleap_actions", "serve", "--host", host, "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert "without write keys" in result.stderr


def _tracks(user: str, names: range) -> dict[str, object]:
    return {"batch": [{"type": "track", "userId": user, "event": f"E{n}"} for n in names]}


async def test_events_are_routed_at_ingest_and_delivered_once(
    sandbox: SandboxThread, start_service: StartService
) -> None:
    service = await start_service(sandbox.url)
    assert (await post(service.url, "/v1/batch", _tracks("u5", range(50))))[0] == 200
    await wait_for(lambda: sandbox.state.event_count("u5") == 50)
    # Stored already routed: the router had nothing to claim.
    assert service.store.claim_unrouted("check", 100, 30) == []
    await asyncio.sleep(0.3)
    assert sorted(e["name"] for e in sandbox.state.events("u5")) == sorted(f"E{n}" for n in range(50))
    async with aiohttp.ClientSession() as session, session.get(service.url + "/metrics") as r:
        assert "gleap_actions_routed_events_total 50.0" in await r.text()


async def test_an_ingest_only_nodes_events_are_routed_by_a_delivery_node(
    sandbox: SandboxThread, tmp_path: Path
) -> None:
    config = load_config(write_config(tmp_path, sandbox.url))
    ingest = Service(config, role="ingest")
    deliver = Service(config, role="deliver")
    await ingest.start()
    await deliver.start()
    try:
        assert (await post(ingest.url, "/v1/batch", _tracks("u6", range(30))))[0] == 200
        await wait_for(lambda: sandbox.state.event_count("u6") == 30)
        await asyncio.sleep(0.3)
        assert sorted(e["name"] for e in sandbox.state.events("u6")) == sorted(f"E{n}" for n in range(30))
    finally:
        await ingest.stop(timeout=2)
        await deliver.stop(timeout=2)


async def test_ingest_only_node_without_token_never_asks_gleap(tmp_path: Path) -> None:
    config = load_config(None, env={"GLEAP_ACTIONS_DATA_DIR": str(tmp_path / "data")})
    assert config.uses_sandbox
    service = Service(config, role="ingest")
    result = await service.delete_user("someone")
    service.store.close()
    del result["destinations"]  # the same, for the one destination `default`
    assert result == {
        "ok": False,
        "message": "no Gleap API token is configured on this node",
        "status": None,
        "dropped": 0,
    }
