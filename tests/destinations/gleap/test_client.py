"""gleap.client against a real aiohttp server on 127.0.0.1: statuses, Retry-After, timeouts, refusals."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gleap_actions.destinations.gleap.client import (
    check_credentials,
    is_retryable_status,
    parse_retry_after,
    send,
)
from gleap_actions.destinations.gleap.requests import gleap_request
from gleap_actions.destinations.gleap.settings import GleapSettings
from gleap_actions.engine.errors import FinalHTTPError, InvalidCredentialsError, RetryableError


@dataclass
class FakeGleap:
    """A tiny HTTP server: `/status/{code}` answers that status; every request is recorded."""

    url: str = ""
    seen: list[dict[str, Any]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@pytest.fixture
async def gleap() -> AsyncIterator[FakeGleap]:
    fake = FakeGleap()

    async def handle(request: web.Request) -> web.StreamResponse:
        fake.seen.append(
            {
                "method": request.method,
                "path": request.raw_path,
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        if fake.delay:
            await asyncio.sleep(fake.delay)
        if request.path.startswith("/drop"):
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        status = int(request.match_info.get("code", "200"))
        return web.Response(
            status=status,
            text=f'{{"status":{status}}}',
            headers=fake.headers,
            content_type="application/json",
        )

    app = web.Application()
    app.router.add_route("*", "/status/{code}", handle)
    app.router.add_route("*", "/admin/auth", handle)
    app.router.add_route("*", "/status/{code}/admin/auth", handle)
    app.router.add_route("*", "/drop", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def _settings(base_url: str) -> GleapSettings:
    return GleapSettings(api_token="secret-token", base_url=base_url, timeout=2.0)


async def test_success_returns_status_headers_and_body_and_sends_our_headers(
    gleap: FakeGleap, session: aiohttp.ClientSession
) -> None:
    request = gleap_request(_settings(gleap.url), "POST", "/status/200", {"events": [{"n": 1.0}]})
    response = await send(session, request, 2.0)
    assert response.status == 200
    assert response.body == b'{"status":200}'
    assert response.headers["content-type"].startswith("application/json")
    seen = gleap.seen[0]
    assert seen["method"] == "POST"
    assert seen["body"] == b'{"events":[{"n":1}]}'
    assert seen["headers"]["Api-Token"] == "secret-token"
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["User-Agent"].startswith("gleap-actions/")


@pytest.mark.parametrize(("status", "message"), [(401, "401 Unauthorized"), (403, "403 Forbidden")])
async def test_invalid_credentials(
    gleap: FakeGleap, session: aiohttp.ClientSession, status: int, message: str
) -> None:
    with pytest.raises(InvalidCredentialsError) as caught:
        await send(session, gleap_request(_settings(gleap.url), "GET", f"/status/{status}"), 2.0)
    assert caught.value.status == status
    assert str(caught.value) == message


@pytest.mark.parametrize("status", [408, 423, 429, 500, 502, 503, 504, 599])
async def test_retryable_statuses(gleap: FakeGleap, session: aiohttp.ClientSession, status: int) -> None:
    with pytest.raises(RetryableError) as caught:
        await send(session, gleap_request(_settings(gleap.url), "POST", f"/status/{status}", {}), 2.0)
    assert caught.value.status == status
    assert caught.value.retry_after is None


@pytest.mark.parametrize("status", [400, 404, 413, 422, 501, 302])
async def test_final_statuses_carry_the_response_body(
    gleap: FakeGleap, session: aiohttp.ClientSession, status: int
) -> None:
    with pytest.raises(FinalHTTPError) as caught:
        await send(session, gleap_request(_settings(gleap.url), "POST", f"/status/{status}", {}), 2.0)
    assert caught.value.status == status
    assert caught.value.body == f'{{"status":{status}}}'
    assert caught.value.path == f"/status/{status}"  # the dead letter says which endpoint answered
    assert str(caught.value).startswith(f"{status} ")


async def test_retry_after_seconds(gleap: FakeGleap, session: aiohttp.ClientSession) -> None:
    gleap.headers = {"Retry-After": "7"}
    with pytest.raises(RetryableError) as caught:
        await send(session, gleap_request(_settings(gleap.url), "POST", "/status/429", {}), 2.0)
    assert caught.value.retry_after == 7.0
    assert str(caught.value) == "429 Too Many Requests"


async def test_retry_after_http_date(gleap: FakeGleap, session: aiohttp.ClientSession) -> None:
    gleap.headers = {"Retry-After": format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)}
    with pytest.raises(RetryableError) as caught:
        await send(session, gleap_request(_settings(gleap.url), "POST", "/status/503", {}), 2.0)
    assert caught.value.retry_after is not None
    assert 100 <= caught.value.retry_after <= 121


async def test_timeout_is_retryable(gleap: FakeGleap, session: aiohttp.ClientSession) -> None:
    gleap.delay = 1.0
    with pytest.raises(RetryableError) as caught:
        await send(session, gleap_request(_settings(gleap.url), "POST", "/status/200", {}), 0.2)
    assert str(caught.value) == "Request timed out after 200ms"
    assert caught.value.status is None


async def test_connection_refused_is_retryable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(RetryableError, match=r"^Network error: "):
        await send(session, gleap_request(_settings(f"http://127.0.0.1:{port}"), "GET", "/admin/auth"), 2.0)


async def test_dropped_connection_is_retryable(gleap: FakeGleap, session: aiohttp.ClientSession) -> None:
    with pytest.raises(RetryableError, match=r"^Network error: "):
        await send(session, gleap_request(_settings(gleap.url), "POST", "/drop", {"a": 1}), 2.0)


async def test_check_credentials(gleap: FakeGleap, session: aiohttp.ClientSession) -> None:
    response = await check_credentials(session, _settings(gleap.url))
    assert response.status == 200
    assert gleap.seen[0]["method"] == "GET"
    assert gleap.seen[0]["path"] == "/admin/auth"
    assert gleap.seen[0]["body"] == b""


@pytest.mark.parametrize(
    ("status", "message"),
    [(404, "Credentials are invalid: 404 Not Found"), (401, "Credentials are invalid: 401 Unauthorized")],
)
async def test_check_credentials_failures(
    session: aiohttp.ClientSession, gleap: FakeGleap, status: int, message: str
) -> None:
    settings = _settings(f"{gleap.url}/status/{status}")
    with pytest.raises(InvalidCredentialsError) as caught:
        await check_credentials(session, settings)
    assert str(caught.value) == message
    assert caught.value.status == status


async def test_check_credentials_outage_is_not_a_credentials_verdict(
    session: aiohttp.ClientSession, gleap: FakeGleap
) -> None:
    with pytest.raises(RetryableError):
        await check_credentials(session, _settings(f"{gleap.url}/status/503"))


def test_retry_after_parsing() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412490.0) == 0.0


def test_retryable_status_table() -> None:
    assert [s for s in range(400, 600) if is_retryable_status(s)] == [408, 423, 429] + [
        s for s in range(500, 600) if s != 501
    ]
