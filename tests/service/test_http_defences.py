"""The HTTP server's defences, with real sockets on 127.0.0.1: no secret echoed or logged from a malformed
request, every error answer JSON, slow heads and bodies cut off at their deadline, a connection cap."""

from __future__ import annotations

import asyncio
import base64
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
import yaml

from gleap_actions.config import load_config
from gleap_actions.sandbox import Sandbox
from gleap_actions.service import Service

from .conftest import ADMIN_TOKEN, WRITE_KEY, write_config


@pytest.fixture
async def service(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Service]:
    path = write_config(tmp_path, sandbox.url)
    document = yaml.safe_load(path.read_text())
    document["server"].update(header_timeout="1s", body_timeout="1s", max_connections=8)
    path.write_text(yaml.safe_dump(document))
    running = Service(load_config(path))
    await running.start()
    yield running
    await running.stop(timeout=2)


async def exchange(service: Service, data: bytes, *, wait: float = 10.0) -> bytes:
    """Send `data` on a fresh connection and read until the server closes it (or `wait` runs out)."""
    host, port = service.url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(data)
    await writer.drain()
    received = b""
    try:
        async with asyncio.timeout(wait):
            while chunk := await reader.read(65536):
                received += chunk
    except TimeoutError:
        received += b"<still open>"
    writer.close()
    return received


def json_error(answer: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    assert b"application/json" in head.lower(), head
    document = orjson.loads(body)
    assert set(document) == {"code", "message"}
    return status, document


def sample(service: Service, name: str, labels: dict[str, str]) -> float:
    return service.registry.get_sample_value(name, labels) or 0.0


def closed(service: Service, reason: str) -> float:
    return sample(service, "gleap_actions_http_connections_closed_total", {"reason": reason})


@pytest.mark.parametrize(
    "header",
    [
        f"Authorization: Bearer {ADMIN_TOKEN}{'x' * 9000}",
        "Authorization: Basic " + base64.b64encode(f"{WRITE_KEY}:".encode() * 800).decode(),
        f"X-Note: {ADMIN_TOKEN}\x01",  # a malformed header, not an oversized one
    ],
)
async def test_a_malformed_header_is_neither_echoed_nor_logged(
    service: Service, header: str, caplog: pytest.LogCaptureFixture
) -> None:
    basic = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()[:12]
    secret = ADMIN_TOKEN if ADMIN_TOKEN in header else basic
    request = f"POST /admin/reload HTTP/1.1\r\nHost: x\r\n{header}\r\nContent-Length: 0\r\n\r\n".encode()
    with caplog.at_level(logging.DEBUG):
        answer = await exchange(service, request)
    status, _ = json_error(answer)
    assert status == 400 and secret.encode() not in answer
    assert secret not in caplog.text and "Traceback" not in caplog.text
    assert closed(service, "bad_request") == 1


async def test_every_error_answer_is_json(service: Service) -> None:
    for request, expected in [
        (b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 404),
        (b"GET /v1/batch HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 405),
        (b"GARBAGE\r\n\r\n", 400),
    ]:
        status, _ = json_error(await exchange(service, request))
        assert status == expected


async def test_a_half_sent_head_is_closed_after_its_deadline(service: Service) -> None:
    answer = await exchange(service, b"POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Le")
    assert answer == b""  # closed, not answered and not left open
    assert closed(service, "header_timeout") == 1


async def test_a_silent_connection_is_closed_after_the_head_deadline(service: Service) -> None:
    assert await exchange(service, b"") == b""


async def test_a_half_sent_body_is_answered_408_and_closed(service: Service) -> None:
    key = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    head = f"POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {key}\r\nContent-Length: 200\r\n\r\n"
    status, document = json_error(await exchange(service, head.encode() + b'{"type":'))
    assert (status, document["code"]) == (408, "body_timeout")
    assert sample(service, "gleap_actions_ingest_events_rejected_total", {"reason": "body_timeout"}) == 1


async def test_over_the_cap_the_longest_waiting_connection_makes_room(service: Service) -> None:
    host, port = service.url.removeprefix("http://").split(":")
    held = [socket.create_connection((host, int(port))) for _ in range(8)]  # idle: no request head yet
    try:
        await asyncio.sleep(0.2)
        answer = await exchange(service, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200")
        assert closed(service, "connection_cap") == 1
        held[0].settimeout(5)
        assert held[0].recv(100) == b""  # the oldest idle connection was closed to make room
    finally:
        for sock in held:
            sock.close()


async def test_over_the_cap_with_every_connection_busy_a_new_one_is_refused(service: Service) -> None:
    host, port = service.url.removeprefix("http://").split(":")
    key = base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    head = f"POST /v1/track HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {key}\r\nContent-Length: 99\r\n\r\n"
    busy = [socket.create_connection((host, int(port))) for _ in range(8)]
    try:
        for sock in busy:
            sock.sendall(head.encode() + b"{")  # a request whose body is still coming
        await asyncio.sleep(0.3)
        assert await exchange(service, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n", wait=0.9) == b""
        assert closed(service, "connection_cap") == 1
    finally:
        for sock in busy:
            sock.close()
    await asyncio.sleep(0.2)
    answer = await exchange(service, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200")
