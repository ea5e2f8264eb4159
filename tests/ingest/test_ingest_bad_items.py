"""Items no store or writer can hold are rejected alone, with a clear reason; the rest of the batch is kept.

Each of these failed the whole request with a plain-text 500 (or, on PostgreSQL, failed every request
committed in the same group) before it was checked at ingest.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from .conftest import Server


def good(n: int) -> dict[str, Any]:
    return {"type": "track", "userId": "u", "event": "e", "messageId": f"good-{n}"}


def nested(depth: int) -> str:
    """A placeholder `dumps` replaces by `depth` nested objects (orjson cannot write them)."""
    return f"@deep:{depth}@"


def dumps(value: Any) -> bytes:
    """JSON of `value` with every `nested(depth)` placeholder written out."""
    body = orjson.dumps(value)
    for match in re.findall(rb'"@deep:(\d+)@"', body):
        depth = int(match)
        body = body.replace(b'"@deep:%d@"' % depth, b'{"a":' * depth + b"1" + b"}" * depth)
    return body


BAD_ITEMS: dict[str, tuple[dict[str, Any], str, str]] = {
    "timestamp past 9999 in UTC": (
        {"timestamp": "9999-12-31T23:59:59-14:00"},
        "invalid_timestamp",
        "timestamp",
    ),
    "timestamp before year 1 in UTC": (
        {"timestamp": "0001-01-01T00:00:00+14:00"},
        "invalid_timestamp",
        "timestamp",
    ),
    "sentAt past 9999 in UTC": ({"sentAt": "9999-12-31T23:59:59-01:00"}, "invalid_timestamp", "sentAt"),
    "skew correction past 9999": (
        {"timestamp": "9999-12-31T00:00:00Z", "sentAt": "0001-01-01T00:00:00Z"},
        "invalid_timestamp",
        "skew",
    ),
    "skew correction before year 1": (
        {"timestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-12-31T00:00:00Z"},
        "invalid_timestamp",
        "skew",
    ),
    "properties 254 deep": ({"properties": nested(254)}, "too_deep", "254 levels"),
    "context 1000 deep": ({"context": nested(1000)}, "too_deep", "254 levels"),
    "NUL in userId": ({"userId": "a\x00b"}, "invalid_field", "userId"),
    "NUL in messageId": ({"messageId": "m\x00"}, "invalid_field", "messageId"),
    "NUL in anonymousId": ({"anonymousId": "\x00"}, "invalid_field", "anonymousId"),
    "NUL in event": ({"event": "Sign\x00up"}, "invalid_field", "event"),
}


@pytest.mark.parametrize("name", list(BAD_ITEMS))
async def test_a_bad_item_is_rejected_alone(server: Server, name: str) -> None:
    override, code, words = BAD_ITEMS[name]
    batch = [good(0), {**good(1), **override, "messageId": override.get("messageId", "bad")}, good(2)]
    async with server.session.post(server.url + "/v1/batch", data=dumps({"batch": batch})) as r:
        assert r.status == 200
        answer = await r.json()
    assert answer["success"] is True
    [rejected] = answer["rejected"]
    assert (rejected["index"], rejected["code"]) == (1, code)
    assert words in rejected["message"]
    assert {e["messageId"] for e in server.stored()} == {"good-0", "good-2"}
    assert server.metric("gleap_actions_ingest_events_rejected_total", {"reason": code}) == 1

    # Alone, on a single-call route: a 400 saying the same.
    single = {**good(3), **override, "messageId": override.get("messageId", "bad-single")}
    async with server.session.post(server.url + "/v1/track", data=dumps(single)) as r:
        assert r.status == 400
        assert (await r.json())["code"] == code


async def test_nul_inside_properties_is_kept(server: Server) -> None:
    event = {**good(0), "properties": {"note": "a\x00b", "k\x00": 1}}
    async with server.session.post(server.url + "/v1/track", data=dumps(event)) as r:
        assert r.status == 200
    [stored] = server.stored()
    assert stored["properties"] == {"note": "a\x00b", "k\x00": 1}


async def test_253_levels_are_accepted(server: Server) -> None:
    """The deepest event the writer accepts: the event object plus 253 levels in it."""
    event = {**good(0), "properties": nested(252)}
    async with server.session.post(server.url + "/v1/track", data=dumps(event)) as r:
        assert r.status == 200
