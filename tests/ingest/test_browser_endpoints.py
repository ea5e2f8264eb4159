"""What browsers and mobile libraries need, over real HTTP on 127.0.0.1 against the whole service: the
short paths, text/plain bodies with the write key inside, CORS, the settings route, retries, rate limits."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import orjson

from gleap_actions.sandbox import SandboxThread
from gleap_actions.service import Service

from .conftest import WRITE_KEY, Serve, sample, wait_for

PAGE = "http://127.0.0.1:1"  # another origin than the service's


async def request(
    method: str, url: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    """(status, headers, JSON or None) of one request; a dict body is sent as text/plain JSON."""
    data = orjson.dumps(body) if isinstance(body, dict) else body
    sent = {"Content-Type": "text/plain;charset=UTF-8", **(headers or {})}
    async with aiohttp.ClientSession() as session, session.request(method, url, data=data, headers=sent) as r:
        text = await r.read()
        return r.status, dict(r.headers), orjson.loads(text) if text else None


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def received(service: Service, call_type: str) -> float:
    return sample(service, "gleap_actions_ingest_events_received_total", {"type": call_type})


async def test_short_paths_take_text_plain_bodies_with_the_write_key_inside(
    serve: Serve,
    sandbox: SandboxThread,
) -> None:
    service = await serve()
    calls = {
        "i": {"type": "identify", "userId": "u1", "traits": {"email": "ada@example.com"}},
        "t": {"type": "track", "userId": "u1", "event": "Signed Up", "properties": {"plan": "pro"}},
        "p": {"type": "page", "userId": "u1", "name": "Home", "context": {"page": {"url": "https://x.io/"}}},
        "s": {"type": "screen", "userId": "u1", "name": "Settings"},
        "g": {"type": "group", "userId": "u1", "groupId": "g1"},
        "a": {"type": "alias", "userId": "u1", "previousId": "anon-1"},
    }
    for letter, body in calls.items():
        status, _, answer = await request(
            "POST", f"{service.url}/v1/{letter}", {**body, "writeKey": WRITE_KEY}
        )
        assert (status, answer) == (200, {"success": True}), letter
    for call_type in ("identify", "track", "page", "screen", "group", "alias"):
        assert received(service, call_type) == 1, call_type
    batch = {
        "writeKey": WRITE_KEY,
        "sentAt": "2026-01-01T00:00:00.000Z",
        "batch": [{"type": "track", "userId": "u2", "event": "Batched", "messageId": "b-1"}],
    }
    assert (await request("POST", f"{service.url}/v1/b", batch))[0] == 200
    assert received(service, "track") == 2
    await wait_for(lambda: sandbox.state.event_count("u2") == 1)
    [event] = sandbox.state.events("u2")
    assert (event["name"], event["userId"]) == ("Batched", "u2")

    status, _, answer = await request("POST", f"{service.url}/v1/t", {"userId": "u1", "event": "No key"})
    assert (status, answer["code"]) == (401, "unauthorized")
    status, _, answer = await request(
        "POST", f"{service.url}/v1/t", {"userId": "u1", "event": "x", "writeKey": "someone-elses-key"}
    )
    assert (status, answer["code"]) == (401, "unauthorized")


async def test_preflight_allows_what_analytics_js_sends(serve: Serve) -> None:
    service = await serve()
    for path, method in (("/v1/t", "POST"), ("/v1/b", "POST"), (f"/v1/projects/{WRITE_KEY}/settings", "GET")):
        status, headers, body = await request(
            "OPTIONS",
            service.url + path,
            headers={
                "Origin": PAGE,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
            },
        )
        assert (status, body) == (204, None), path
        assert headers["Access-Control-Allow-Origin"] == "*"
        assert method in headers["Access-Control-Allow-Methods"]
        allowed = headers["Access-Control-Allow-Headers"].lower()
        assert all(name in allowed for name in ("authorization", "content-type", "x-retry-count"))
    # The answer itself carries the CORS headers, Retry-After readable by the page.
    status, headers, _ = await request(
        "POST", f"{service.url}/v1/t", {"userId": "u", "event": "e", "writeKey": WRITE_KEY}, {"Origin": PAGE}
    )
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert headers["Access-Control-Expose-Headers"] == "Retry-After"
    # Errors too: the page can read why.
    status, headers, body = await request("POST", f"{service.url}/v1/t", b"{", {"Origin": PAGE})
    assert (status, body["code"], headers["Access-Control-Allow-Origin"]) == (400, "invalid_json", "*")


async def test_malformed_preflights_get_a_clear_error(serve: Serve) -> None:
    service = await serve()
    url = f"{service.url}/v1/t"
    cases = [
        ({"Access-Control-Request-Method": "POST"}, 400, "must carry an Origin header"),
        ({"Origin": PAGE}, 400, "must carry an Access-Control-Request-Method header"),
        ({"Origin": PAGE, "Access-Control-Request-Method": "DELETE"}, 400, "method DELETE is not allowed"),
        (
            {
                "Origin": PAGE,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "x-debug",
            },
            400,
            "header x-debug is not allowed",
        ),
    ]
    for headers, status, message in cases:
        got, answer_headers, body = await request("OPTIONS", url, headers=headers)
        assert (got, body["code"]) == (status, "invalid_preflight"), headers
        assert message in body["message"]
        assert "Access-Control-Allow-Origin" not in answer_headers
    got, _, body = await request(
        "OPTIONS", f"{service.url}/v1/nope", headers={"Origin": PAGE, "Access-Control-Request-Method": "POST"}
    )
    assert (got, body["code"]) == (404, "not_found")


async def test_configured_origins_only(serve: Serve) -> None:
    service = await serve(cors_origins=["https://app.example.com"])
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}
    status, headers, _ = await request(
        "OPTIONS", f"{service.url}/v1/t", headers={"Origin": "https://app.example.com", **preflight}
    )
    assert (status, headers["Access-Control-Allow-Origin"]) == (204, "https://app.example.com")
    assert headers["Vary"] == "Origin"
    status, headers, body = await request(
        "OPTIONS", f"{service.url}/v1/t", headers={"Origin": "https://evil.example", **preflight}
    )
    assert (status, body["code"]) == (403, "origin_not_allowed")
    assert "Access-Control-Allow-Origin" not in headers
    # A beacon needs no preflight: the origin is checked on the request itself, before anything is stored.
    event = {"userId": "u", "event": "Beacon", "writeKey": WRITE_KEY}
    status, _, body = await request("POST", f"{service.url}/v1/t", event, {"Origin": "https://evil.example"})
    assert (status, body["code"]) == (403, "origin_not_allowed")
    assert received(service, "track") == 0
    # Server-side libraries send no Origin: unaffected.
    assert (await request("POST", f"{service.url}/v1/t", event))[0] == 200


async def test_admin_api_never_answers_cross_origin(serve: Serve) -> None:
    service = await serve(admin_token="admin-token-9f3a")
    auth = {"Authorization": "Bearer admin-token-9f3a"}
    status, headers, body = await request(
        "OPTIONS",
        f"{service.url}/admin/stats",
        headers={"Origin": PAGE, "Access-Control-Request-Method": "GET"},
    )
    assert (status, body["code"]) == (403, "cross_origin_refused")
    assert "Access-Control-Allow-Origin" not in headers
    status, headers, body = await request(
        "GET", f"{service.url}/admin/stats", headers={"Origin": PAGE, **auth}
    )
    assert (status, body["code"]) == (403, "cross_origin_refused")
    assert "Access-Control-Allow-Origin" not in headers
    assert (await request("GET", f"{service.url}/admin/stats", headers=auth))[0] == 200


async def test_settings_point_the_library_back_at_the_service(serve: Serve) -> None:
    service = await serve()
    status, headers, settings = await request(
        "GET", f"{service.url}/v1/projects/{WRITE_KEY}/settings", headers={"Origin": PAGE}
    )
    assert status == 200 and headers["Access-Control-Allow-Origin"] == "*"
    host = service.url.removeprefix("http://")
    assert settings["integrations"]["Segment.io"] == {
        "apiKey": WRITE_KEY,
        "apiHost": f"{host}/v1",
        "protocol": "http",
    }
    assert settings["metrics"]["sampleRate"] == 0  # no telemetry to Segment
    assert headers["Cache-Control"] == "no-store"  # derived from the request's Host: never shared
    status, _, settings = await request(
        "GET", f"{service.url}/v1/projects/{WRITE_KEY}/settings", headers={"X-Forwarded-Proto": "https"}
    )
    assert settings["integrations"]["Segment.io"]["protocol"] == "https"

    status, _, body = await request("GET", f"{service.url}/v1/projects/not-a-key/settings")
    assert (status, body["code"]) == (404, "unknown_write_key")
    assert "not-a-key" not in body["message"]


async def test_settings_use_the_public_url(serve: Serve) -> None:
    service = await serve(public_url="https://events.example.com/segment/")
    status, headers, settings = await request("GET", f"{service.url}/v1/projects/{WRITE_KEY}/settings")
    assert status == 200 and headers["Cache-Control"] == "public, max-age=60"
    assert settings["integrations"]["Segment.io"] == {
        "apiKey": WRITE_KEY,
        "apiHost": "events.example.com/segment/v1",
        "protocol": "https",
    }


async def test_settings_for_any_key_when_no_write_keys_are_configured(serve: Serve) -> None:
    service = await serve(write_keys=[])
    status, _, settings = await request("GET", f"{service.url}/v1/projects/any-key/settings")
    assert (status, settings["integrations"]["Segment.io"]["apiKey"]) == (200, "any-key")


async def test_retries_with_x_retry_count_are_kept_once(serve: Serve, sandbox: SandboxThread) -> None:
    service = await serve()
    event = {"userId": "u-retry", "event": "Paid", "messageId": "m-retry-1", "writeKey": WRITE_KEY}
    for attempt in range(3):
        headers = {"X-Retry-Count": str(attempt)} if attempt else {}
        assert (await request("POST", f"{service.url}/v1/t", event, headers))[0] == 200
    assert received(service, "track") == 1
    assert sample(service, "gleap_actions_ingest_events_duplicate_total") == 2
    await wait_for(lambda: sandbox.state.event_count("u-retry") == 1)


async def test_rate_limit_per_write_key(serve: Serve) -> None:
    service = await serve(
        write_keys=[WRITE_KEY, "other-key"], rate_limit={"events_per_second": 1, "burst": 3}
    )
    batch = {
        "writeKey": WRITE_KEY,
        "batch": [{"type": "track", "userId": "u", "event": f"e{i}"} for i in range(3)],
    }
    assert (await request("POST", f"{service.url}/v1/b", batch))[0] == 200
    status, headers, body = await request(
        "POST",
        f"{service.url}/v1/t",
        {"userId": "u", "event": "over", "writeKey": WRITE_KEY},
        {"Origin": PAGE},
    )
    assert (status, body["code"]) == (429, "rate_limited")
    assert int(headers["Retry-After"]) >= 1
    assert headers["Access-Control-Expose-Headers"] == "Retry-After"
    assert "per second" in body["message"] and WRITE_KEY not in body["message"]
    # Another key has its own bucket.
    other = {"userId": "u", "event": "other", "writeKey": "other-key"}
    assert (await request("POST", f"{service.url}/v1/t", other))[0] == 200
    assert received(service, "track") == 4


async def test_oversize_beacon_gets_a_clear_error(serve: Serve) -> None:
    service = await serve()
    event = {"userId": "u", "event": "Big", "properties": {"blob": "x" * 40_000}, "writeKey": WRITE_KEY}
    status, _, body = await request("POST", f"{service.url}/v1/t", event, {"Origin": PAGE})
    assert (status, body["code"]) == (400, "event_too_large")
    assert "32768 bytes" in body["message"]
