"""The HTTP surface of a real `gleap-actions serve` under bad input and hostile clients: junk always gets
a 4xx with a message (never a 5xx, never a crash) while another client's events all get through; slow
senders and oversized bodies are cut off without being read; every route needs its credential; no event
can redirect delivery.

The in-process fuzzing (tests/ingest/test_ingest_failures.py, tests/ingest/test_ingest.py) covers more
examples faster; this runs the same body strategy and more (headers, encodings, deep nesting, huge
values, invalid UTF-8) against the real process."""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.client
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gleap_actions.sandbox import Faults, SandboxThread
from ingest.test_ingest_failures import bodies

from .harness import (
    ADMIN_TOKEN,
    SECRETS,
    SOAK,
    TOKEN,
    WRITE_KEY,
    Client,
    Load,
    ServeProcess,
    assert_no_secrets,
    free_port,
    reconcile,
    wait_until,
    write_config,
)

INGEST_PATHS = [
    f"/v1/{p}" for p in ("track", "identify", "page", "screen", "group", "alias", "batch", "import")
]
ADMIN_ROUTES = [
    ("GET", "/admin/stats"),
    ("GET", "/admin/dead-letters"),
    ("GET", "/admin/dead-letters/1"),
    ("POST", "/admin/dead-letters/replay"),
    ("POST", "/admin/dead-letters/purge"),
    ("POST", "/admin/preview"),
    ("POST", "/admin/users/u1/delete"),
    ("POST", "/admin/reload"),
]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServeProcess, SandboxThread]]:
    """One service for the whole module (hypothesis runs many examples against it)."""
    folder = tmp_path_factory.mktemp("surface")
    with SandboxThread(api_token=TOKEN, faults=Faults(rate_limit=None), request_log_size=10) as sandbox:
        config = write_config(folder, sandbox.url, port=free_port())
        service = ServeProcess(config, folder / "serve.log").start()
        try:
            yield service, sandbox
        finally:
            service.stop()


def _raw(url: str, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def _basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


nested = st.integers(1, 200_000).map(lambda n: b"[" * n + b"]" * n)
huge = st.sampled_from(
    [
        json.dumps({"userId": "u", "event": "x" * 700_000}).encode(),
        b'{"userId": "u", "event": "E", "properties": {"n": 1' + b"0" * 5000 + b"}}",
        b'{"userId": "u", "event": "E", "properties": {"n": 1e999999}}',
        b'{"userId": "u", "event": "\xff\xfe bad utf-8"}',
        b'{"userId": "u\\ud800", "event": "lone surrogate"}',
        json.dumps({"batch": [{"userId": "u", "event": "E"}] * 3000}).encode(),
    ]
)
any_body = st.one_of(bodies, nested, huge)
headers_st = st.fixed_dictionaries(
    {
        "Content-Type": st.sampled_from(["application/json", "text/plain", "multipart/form-data", "", "*/*"]),
        "Authorization": st.sampled_from([_basic(WRITE_KEY), _basic("nope"), "Basic !!!", "Bearer x", ""]),
    }
)
encodings = st.sampled_from(["", "gzip", "gzip-truncated", "gzip-header-only", "deflate", "br"])


def _encode(body: bytes, encoding: str, headers: dict[str, str]) -> bytes:
    if encoding.startswith("gzip"):
        headers["Content-Encoding"] = "gzip"
        packed = gzip.compress(body)
        return packed[: len(packed) // 2] if encoding == "gzip-truncated" else packed
    if encoding == "gzip-header-only":
        headers["Content-Encoding"] = "gzip"
        return body
    if encoding:
        headers["Content-Encoding"] = encoding
    return body


@settings(max_examples=1500 if SOAK else 120, deadline=None, suppress_health_check=list(HealthCheck))
@given(path=st.sampled_from(INGEST_PATHS), body=any_body, headers=headers_st, encoding=encodings)
def test_fuzzed_ingest_always_4xx_with_a_message(
    target: tuple[ServeProcess, SandboxThread], path: str, body: bytes, headers: dict[str, str], encoding: str
) -> None:
    service, _ = target
    headers = {k: v for k, v in headers.items() if v}
    status, answer = _raw(service.url, "POST", path, _encode(body, encoding, headers), headers)
    assert status < 500, (status, answer[:300])
    payload = json.loads(answer)
    if status >= 400:
        assert isinstance(payload["code"], str) and payload["message"], payload
    else:
        assert (
            status == 200 and payload["success"] is True and headers.get("Authorization") == _basic(WRITE_KEY)
        )
    assert_no_secrets([answer.decode("utf-8", "replace")])
    assert service.alive


id_text = st.one_of(st.integers(-(2**70), 2**70).map(str), st.text(max_size=12).map(quote))
admin_requests = st.one_of(
    st.tuples(st.just("GET"), id_text.map(lambda i: f"/admin/dead-letters/{i}")),
    st.tuples(
        st.just("GET"),
        st.tuples(id_text, id_text).map(lambda q: f"/admin/dead-letters?limit={q[0]}&after={q[1]}"),
    ),
    st.tuples(st.just("POST"), st.sampled_from(["/admin/dead-letters/replay", "/admin/dead-letters/purge"])),
    st.tuples(st.just("POST"), st.sampled_from(["/admin/preview", "/admin/preview?batch=true"])),
)
selections = st.one_of(
    bodies,
    st.fixed_dictionaries({"ids": st.lists(st.integers(-(2**70), 2**70), max_size=3)}).map(
        lambda d: json.dumps(d).encode()
    ),
)


@settings(max_examples=1000 if SOAK else 80, deadline=None, suppress_health_check=list(HealthCheck))
@given(request=admin_requests, body=selections)
# Found by this test: ids beyond SQLite's INTEGER crashed the query (500).
@example(request=("GET", f"/admin/dead-letters/{2**64}"), body=b"")
@example(request=("GET", f"/admin/dead-letters?after={2**64}"), body=b"")
@example(request=("POST", "/admin/dead-letters/replay"), body=json.dumps({"ids": [2**64 - 1]}).encode())
def test_fuzzed_admin_api_never_5xx(
    target: tuple[ServeProcess, SandboxThread], request: tuple[str, str], body: bytes
) -> None:
    service, _ = target
    method, path = request
    status, answer = _raw(service.url, method, path, body, {"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert status < 500, (method, path, body[:100], answer[:300])
    if status >= 400:
        assert set(json.loads(answer)) == {"code", "message"}  # JSON, aiohttp's own 404s included
    assert_no_secrets([answer.decode("utf-8", "replace")])


def test_junk_slow_senders_and_huge_bodies_leave_other_clients_unaffected(
    target: tuple[ServeProcess, SandboxThread],
) -> None:
    service, sandbox = target
    client = Client(service.url)
    load = Load(service.url, 1500, rate=300, max_seconds=60).start()
    # Slow senders: each sends its headers and a byte now and then, holding a connection open.
    slow = [socket.create_connection(("127.0.0.1", urlsplit(service.url).port or 0)) for _ in range(50)]
    for sock in slow:
        sock.sendall(
            b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: {_basic(WRITE_KEY)}\r\nContent-Length: 100000\r\n\r\n".encode()
        )
    started = time.monotonic()
    while not load.done and time.monotonic() - started < 60:
        for sock in slow:
            with contextlib.suppress(OSError):  # the server may hang up on a slow sender: allowed
                sock.sendall(b" ")
        # A body declared far over the limit is refused from its headers alone, before it is sent.
        status, answer = _declared_only(service.url, 50 * 1024 * 1024)
        assert status == 400 and json.loads(answer)["code"] == "batch_too_large"
        time.sleep(0.3)
    for sock in slow:
        sock.close()
    assert load.done and len(load.accepted) == load.events
    wait_until(client.queue_empty, 60, "the good client's events delivered")
    report = reconcile(load, sandbox.state, client.dead_letters())
    assert report.lost == 0 and report.delivered == load.events, report
    assert service.alive


def _declared_only(url: str, length: int) -> tuple[int, bytes]:
    """POST with a declared Content-Length of `length` but no body: the answer must not wait for it."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname or "", parts.port or 0), timeout=10) as sock:
        sock.sendall(
            b"POST /v1/batch HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: {_basic(WRITE_KEY)}\r\nContent-Length: {length}\r\n\r\n".encode()
        )
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.read()


def test_every_ingest_route_needs_a_write_key(target: tuple[ServeProcess, SandboxThread]) -> None:
    service, _ = target
    client = Client(service.url)
    event = {"userId": "auth-1", "event": "E", "traits": {}, "groupId": "g", "previousId": "p"}
    for path in INGEST_PATHS:
        body = {"batch": [{"type": "track", **event}]} if path in ("/v1/batch", "/v1/import") else event
        for key in ("", "wrong-key", WRITE_KEY + "x", WRITE_KEY[:-1]):
            status, answer = client.post(path, body, key=key)
            assert status == 401 and answer["code"] == "unauthorized", (path, key)
        status, answer = client.post(path, {**body, "writeKey": "wrong-key"}, key="")
        assert status == 401, path
        assert client.post(path, body)[0] == 200, path
    assert_no_secrets(client.seen)


def test_admin_api_refuses_without_its_token(target: tuple[ServeProcess, SandboxThread]) -> None:
    service, _ = target
    client = Client(service.url)
    wrong = ["", "x", ADMIN_TOKEN[:-1], ADMIN_TOKEN + "x", ADMIN_TOKEN.upper(), WRITE_KEY]
    for method, path in ADMIN_ROUTES:
        for token in wrong:
            status, answer = client.admin(method, path, {"all": True}, token=token)
            assert status == 401 and answer["code"] == "unauthorized", (method, path, token)
        status, _ = client.request(method, path, b"{}", {"Authorization": f"Basic {ADMIN_TOKEN}"})
        assert status == 401
        # A huge body is refused before it is read: the token check comes first.
        status, _ = _raw(service.url, method, path, b"x" * 2_000_000, {"Authorization": "Bearer nope"})
        assert status == 401
    assert client.admin("GET", "/admin/stats")[0] == 200
    assert_no_secrets(client.seen)


def test_no_event_can_redirect_delivery(target: tuple[ServeProcess, SandboxThread]) -> None:
    service, sandbox = target
    client = Client(service.url)
    with SandboxThread(api_token=TOKEN, faults=Faults(rate_limit=None)) as attacker:
        lure = {"base_url": attacker.url, "baseUrl": attacker.url, "url": attacker.url, "host": attacker.url}
        event = {
            "userId": "redirect-1",
            "event": "Lure",
            "properties": lure,
            "context": {**lure, "gleap": lure},
            "integrations": {"Gleap (Action)": lure, "Gleap": lure, "All": True},
        }
        assert client.post("/v1/track", event)[0] == 200
        assert client.post("/v1/identify", {**event, "traits": lure})[0] == 200
        headers = {"Host": urlsplit(attacker.url).netloc, "X-Forwarded-Host": urlsplit(attacker.url).netloc}
        status, _ = _raw(
            service.url,
            "POST",
            "/v1/track",
            json.dumps(event).encode(),
            {"Authorization": _basic(WRITE_KEY), **headers},
        )
        assert status == 200
        wait_until(
            lambda: sandbox.state.event_count("redirect-1") == 2, 30, "delivered to the configured Gleap"
        )
        wait_until(lambda: sandbox.state.contact("redirect-1") is not None, 30, "contact delivered")
        time.sleep(0.5)
        assert attacker.state.request_count() == 0


def test_secrets_absent_from_the_module_log(target: tuple[ServeProcess, SandboxThread]) -> None:
    service, _ = target
    assert_no_secrets([service.log_text()], SECRETS)
