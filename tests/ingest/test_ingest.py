"""The tracking API over real HTTP on 127.0.0.1 with a real SQLite store."""

from __future__ import annotations

import base64
import gzip
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from gleap_actions.events import parse_time
from gleap_actions.ingest.tracking import TrackingAPI, source_id
from gleap_actions.queue.sqlite.store import SQLiteStore

from .conftest import Server, StartServer

Response = tuple[int, dict[str, Any], dict[str, str]]


def basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()}


async def post(
    server: Server, path: str, body: object, headers: dict[str, str] | None = None, *, raw: bool = False
) -> Response:
    data = body if raw else orjson.dumps(body)
    assert isinstance(data, bytes)
    async with server.session.post(server.url + path, data=data, headers=headers) as response:
        payload = orjson.loads(await response.read())
        return response.status, payload, dict(response.headers)


def track(n: int = 1, **extra: Any) -> dict[str, Any]:
    return {"userId": "u1", "event": "Signed Up", "messageId": f"m-{n}", "properties": {"n": n}, **extra}


CALLS: dict[str, dict[str, Any]] = {
    "track": {"userId": "u1", "event": "Order Completed", "properties": {"total": 9.5}},
    "identify": {"userId": "u1", "traits": {"email": "a@example.com"}},
    "page": {"anonymousId": "a1", "name": "Home", "properties": {"url": "https://example.com"}},
    "screen": {"userId": "u1", "name": "Settings"},
    "group": {"userId": "u1", "groupId": "g1", "traits": {"plan": "pro"}},
    "alias": {"userId": "u1", "previousId": "a1"},
}


@pytest.mark.parametrize("call_type", sorted(CALLS))
async def test_single_call_endpoints(server: Server, call_type: str) -> None:
    status, body, _ = await post(server, f"/v1/{call_type}", {**CALLS[call_type], "type": "ignored"})
    assert (status, body) == (200, {"success": True})
    [stored] = server.stored()
    assert stored["type"] == call_type
    assert {k: stored[k] for k in CALLS[call_type]} == CALLS[call_type]
    assert stored["messageId"] and stored["receivedAt"] and stored["timestamp"]
    assert server.metric("gleap_actions_ingest_events_received_total", {"type": call_type}) == 1
    assert server.metric("gleap_actions_ingest_requests_total", {"endpoint": call_type, "status": "200"}) == 1


@pytest.mark.parametrize("path", ["/v1/batch", "/v1/import"])
async def test_batch_endpoints(server: Server, path: str) -> None:
    items = [{"type": t, **CALLS[t]} for t in sorted(CALLS)]
    status, body, _ = await post(server, path, {"batch": items})
    assert (status, body) == (200, {"success": True})
    assert [e["type"] for e in server.stored()] == sorted(CALLS)


async def test_batch_level_fields_are_merged(server: Server) -> None:
    sent_at = datetime.now(UTC).isoformat()
    body = {
        "batch": [
            track(1, context={"ip": "1.2.3.4"}, integrations={"Gleap (Action)": False}),
            track(2, type="identify"),
        ],
        "context": {"library": {"name": "curl"}, "ip": "9.9.9.9"},
        "integrations": {"All": True},
        "sentAt": sent_at,
    }
    body["batch"][0]["type"] = "track"
    status, _, _ = await post(server, "/v1/batch", body)
    assert status == 200
    first, second = server.stored()
    assert first["context"] == {"library": {"name": "curl"}, "ip": "1.2.3.4"}
    assert first["integrations"] == {"All": True, "Gleap (Action)": False}
    assert second["context"] == {"library": {"name": "curl"}, "ip": "9.9.9.9"}
    assert first["sentAt"] == second["sentAt"] == sent_at


async def test_invalid_events_in_a_batch_are_listed_and_the_rest_kept(server: Server) -> None:
    items = [
        {"type": "track", **track(1)},
        {"type": "track", "userId": "u1"},
        {"type": "nope", "userId": "u"},
    ]
    status, body, _ = await post(server, "/v1/batch", {"batch": items})
    assert status == 200
    assert body["success"] is True
    assert [(r["index"], r["code"]) for r in body["rejected"]] == [(1, "missing_event"), (2, "invalid_type")]
    assert len(server.stored()) == 1
    assert server.metric("gleap_actions_ingest_events_rejected_total", {"reason": "missing_event"}) == 1


async def test_a_batch_without_valid_events_is_400(server: Server) -> None:
    status, body, _ = await post(server, "/v1/batch", {"batch": [{"type": "track", "event": "x"}]})
    assert status == 400
    assert body["code"] == "missing_identity" and "userId or an anonymousId" in body["message"]


@pytest.mark.parametrize(
    ("call_type", "body", "code"),
    [
        ("track", {"event": "x"}, "missing_identity"),
        ("track", {"userId": "u"}, "missing_event"),
        ("track", {"userId": "", "event": "x"}, "missing_identity"),
        ("group", {"userId": "u"}, "missing_group_id"),
        ("alias", {"userId": "u"}, "missing_previous_id"),
        ("alias", {"previousId": "p", "anonymousId": "a"}, "missing_identity"),
        ("identify", {"userId": "u", "traits": [1]}, "invalid_field"),
        ("track", {"userId": {"id": 1}, "event": "x"}, "invalid_field"),
        ("track", {"userId": "u", "event": "x", "timestamp": "yesterday"}, "invalid_timestamp"),
        ("track", {"userId": "u", "event": "x", "messageId": "m" * 101}, "invalid_field"),
    ],
)
async def test_spec_violations_are_400(
    server: Server, call_type: str, body: dict[str, Any], code: str
) -> None:
    status, answer, _ = await post(server, f"/v1/{call_type}", body)
    assert status == 400
    assert answer["code"] == code and answer["message"]
    assert server.stored() == []


# -- auth ---------------------------------------------------------------------------------------------


async def test_write_key_by_basic_auth_or_body(start_server: StartServer) -> None:
    server = await start_server(write_keys=["wk-secret-1", "wk-2"])
    assert (await post(server, "/v1/track", track(1), basic("wk-secret-1")))[0] == 200
    assert (await post(server, "/v1/track", {**track(2), "writeKey": "wk-2"}))[0] == 200
    for headers, body in [
        (basic("wrong"), track(3)),
        (None, {**track(4), "writeKey": "wrong"}),
        (None, track(5)),
        ({"Authorization": "Basic !!!"}, track(6)),
        (basic("wrong"), {**track(7), "writeKey": "wk-2"}),  # the header wins
    ]:
        status, answer, _ = await post(server, "/v1/track", body, headers)
        assert (status, answer["code"]) == (401, "unauthorized")
    stored = server.stored()
    assert [e["messageId"] for e in stored] == ["m-1", "m-2"]
    assert "writeKey" not in stored[1]
    # The key never reaches the disk; its hash identifies the source.
    raw = b"".join(p.read_bytes() for p in Path(server.store.location).parent.iterdir())
    assert b"wk-secret-1" not in raw and b"wk-2" not in raw
    assert source_id("wk-secret-1").encode() in raw


async def test_from_config(tmp_path: Path) -> None:
    @dataclass(frozen=True)
    class ServerConfig:
        write_keys: tuple[str, ...] = ("k1",)
        events_per_second: float = 0.0
        burst: int = 0
        body_timeout: float = 5.0

    @dataclass(frozen=True)
    class StorageConfig:
        dedup_window: float = 60.0

    store = SQLiteStore(tmp_path / "q.db")
    service = TrackingAPI.from_config(store, ServerConfig(), StorageConfig())
    assert service.committer.dedup_window == 60.0
    assert service.limits.body_timeout == 5.0
    store.close()


async def test_any_key_accepted_without_configured_keys(server: Server) -> None:
    assert (await post(server, "/v1/track", track(1), basic("anything")))[0] == 200
    assert (await post(server, "/v1/track", track(1)))[0] == 200  # other source, so not a duplicate
    assert len(server.stored()) == 2


# -- gzip, limits, bad bodies -------------------------------------------------------------------------


@pytest.mark.parametrize("auto_decompress", [False, True])
async def test_gzip_body(start_server: StartServer, auto_decompress: bool) -> None:
    server = await start_server(auto_decompress=auto_decompress)
    body = gzip.compress(orjson.dumps({"batch": [{"type": "track", **track(n)} for n in range(3)]}))
    status, _, _ = await post(server, "/v1/batch", body, {"Content-Encoding": "gzip"}, raw=True)
    assert status == 200
    assert len(server.stored()) == 3


async def test_bad_gzip_is_400(server: Server) -> None:
    for body in [b"\x1f\x8bnot really gzip", gzip.compress(b'{"batch": []}')[:-6]]:
        status, answer, _ = await post(server, "/v1/batch", body, {"Content-Encoding": "gzip"}, raw=True)
        assert (status, answer["code"]) == (400, "invalid_gzip")
        assert answer["message"]


async def test_a_body_declared_gzip_that_is_not_gzip_says_so(server: Server) -> None:
    for body in [b"plain text", b'["not", "gzip"]']:
        status, answer, _ = await post(server, "/v1/track", body, {"Content-Encoding": "gzip"}, raw=True)
        assert (status, answer["code"]) == (400, "invalid_gzip")
        assert answer["message"] == "the body is sent with Content-Encoding: gzip but is not gzip"


async def test_bad_gzip_is_400_when_aiohttp_decompresses(start_server: StartServer) -> None:
    server = await start_server(auto_decompress=True)
    for body in [b"\x1f\x8bnot really gzip", b'{"batch": []}']:
        status, answer, headers = await post(
            server, "/v1/batch", body, {"Content-Encoding": "gzip"}, raw=True
        )
        assert (status, answer["code"]) == (400, "invalid_body")
        assert headers["Connection"] == "close"  # the stream is broken: no keep-alive
    assert (await post(server, "/v1/track", track(1)))[0] == 200


@pytest.mark.parametrize("auto_decompress", [False, True])
async def test_gzip_bomb_is_refused(start_server: StartServer, auto_decompress: bool) -> None:
    server = await start_server(auto_decompress=auto_decompress)
    bomb = gzip.compress(b'{"batch": [' + b" " * 50_000_000 + b"]}")
    assert len(bomb) < 100_000
    status, answer, _ = await post(server, "/v1/batch", bomb, {"Content-Encoding": "gzip"}, raw=True)
    assert (status, answer["code"]) == (400, "batch_too_large")


async def test_size_limits(server: Server) -> None:
    big = "x" * 33_000
    status, answer, _ = await post(server, "/v1/track", track(1, properties={"s": big}))
    assert (status, answer["code"]) == (400, "event_too_large")
    assert "32768" in answer["message"]

    items = [{"type": "track", **track(n, properties={"s": "y" * 30_000})} for n in range(18)]
    status, answer, _ = await post(server, "/v1/batch", {"batch": items})
    assert (status, answer["code"]) == (400, "batch_too_large")

    items = [{"type": "track", **track(1)}, {"type": "track", **track(2, properties={"s": big})}]
    status, answer, _ = await post(server, "/v1/batch", {"batch": items})
    assert (status, answer["code"]) == (400, "event_too_large")
    assert "item 1" in answer["message"]

    items = [{"type": "track", "userId": "u", "event": "e"}] * 2501
    status, answer, _ = await post(server, "/v1/batch", {"batch": items})
    assert (status, answer["code"]) == (400, "too_many_events")
    assert server.stored() == []

    items = [{"type": "track", "userId": "u", "event": "e"}] * 2500
    assert (await post(server, "/v1/batch", {"batch": items}))[0] == 200


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        ("/v1/track", b'{"userId": "u", "event": ', "invalid_json"),
        ("/v1/track", b'{"userId": "\xff\xfe", "event": "x"}', "invalid_json"),
        ("/v1/track", b"[1, 2]", "invalid_body"),
        ("/v1/track", b"", "invalid_json"),
        ("/v1/batch", b'{"batch": {"type": "track"}}', "invalid_batch"),
        ("/v1/batch", b'{"batch": [], "context": "x"}', "invalid_batch"),
        ("/v1/batch", b'{"batch": [' * 2000 + b"]" * 2000 + b"}", "invalid_json"),
    ],
)
async def test_bad_bodies_are_400(server: Server, path: str, body: bytes, code: str) -> None:
    status, answer, _ = await post(server, path, body, raw=True)
    assert (status, answer["code"]) == (400, code)
    assert answer["message"]


# -- timestamps and dedup -----------------------------------------------------------------------------


async def test_clock_skew_is_corrected(server: Server) -> None:
    # The client's clock is one hour ahead; the event happened 10 s before the request was sent.
    client_now = time.time() + 3600
    sent_at = datetime.fromtimestamp(client_now, UTC).isoformat()
    happened = datetime.fromtimestamp(client_now - 10, UTC).isoformat()
    body = {"batch": [{"type": "track", **track(1), "timestamp": happened}], "sentAt": sent_at}
    before = time.time()
    assert (await post(server, "/v1/batch", body))[0] == 200
    [stored] = server.stored()
    received = parse_time(stored["receivedAt"], "receivedAt")
    assert before - 0.01 <= received <= time.time() + 0.01
    assert parse_time(stored["timestamp"], "timestamp") == pytest.approx(received - 10, abs=0.002)
    assert stored["originalTimestamp"] == happened


async def test_duplicate_message_ids_are_stored_once(server: Server) -> None:
    assert (await post(server, "/v1/track", track(1)))[0] == 200
    assert (await post(server, "/v1/batch", {"batch": [{"type": "track", **track(1)}] * 3}))[0] == 200
    assert len(server.stored()) == 1
    assert server.metric("gleap_actions_ingest_events_duplicate_total") == 3


async def test_bearer_token_with_write_key_in_body(start_server: StartServer) -> None:
    server = await start_server(write_keys=["wk"])
    headers = {"Authorization": "Bearer some-oauth-token"}
    assert (await post(server, "/v1/track", {**track(1), "writeKey": "wk"}, headers))[0] == 200
    assert (await post(server, "/v1/track", track(2), headers))[0] == 401


async def test_unsupported_content_encoding(server: Server) -> None:
    status, answer, _ = await post(server, "/v1/track", track(1), {"Content-Encoding": "br"})
    assert (status, answer["code"]) == (400, "unsupported_encoding")


async def test_chunked_body_is_capped_while_streaming(server: Server) -> None:
    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: 1 MB, chunked
        yield b'{"batch": ['
        for _ in range(100):
            yield b" " * 10_000
        yield b"]}"

    async with server.session.post(server.url + "/v1/batch", data=chunks()) as response:
        assert response.status == 400
        assert (await response.json())["code"] == "batch_too_large"
