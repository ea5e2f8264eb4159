"""Each injected fault, set at start and at run time, over real HTTP."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from gleap_actions.sandbox import Faults, FaultSpecError, Outage, Sandbox, SandboxThread
from gleap_actions.sandbox.injector import FaultInjector

from .helpers import TOKEN, event


@pytest.fixture
async def started() -> AsyncIterator[list[Sandbox]]:
    """Sandboxes started by a test, stopped after it."""
    sandboxes: list[Sandbox] = []
    yield sandboxes
    for sandbox in sandboxes:
        await sandbox.stop()


async def start(started: list[Sandbox], **faults: Any) -> Sandbox:
    sandbox = Sandbox(api_token=TOKEN, faults=Faults(**{"rate_limit": None, **faults}))
    await sandbox.start()
    started.append(sandbox)
    return sandbox


async def track(client: aiohttp.ClientSession, sandbox: SandboxThread, n: int = 1) -> aiohttp.ClientResponse:
    async with client.post(sandbox.url + "/admin/track", json={"events": [event()] * n}) as resp:
        await resp.read()
        return resp


async def set_faults(client: aiohttp.ClientSession, sandbox: SandboxThread, spec: Any) -> tuple[int, Any]:
    async with client.post(sandbox.url + "/__sandbox/faults", json=spec) as resp:
        return resp.status, await resp.json()


# Rate limit.


def test_the_default_rate_limit_is_gleaps_1000_per_minute_with_whole_second_retry_after() -> None:
    faults = Faults()
    assert (faults.rate_limit, faults.rate_limit_window) == (1000, 60.0)
    injector = FaultInjector(faults, now=0.0)
    assert all(injector.retry_after("track", now=i * 0.01) is None for i in range(1000))
    assert injector.retry_after("track", now=10.0) == 50  # the first request leaves the window at 60 s
    assert injector.retry_after("track", now=59.5) == 1
    assert injector.retry_after("identify", now=10.0) is None  # each endpoint has its own limit
    assert injector.retry_after("track", now=60.001) is None


async def test_rate_limit_at_start_answers_429_with_retry_after(
    started: list[Sandbox], client: aiohttp.ClientSession
) -> None:
    sandbox = await start(started, rate_limit=3, rate_limit_window=0.5)
    assert [(await track(client, sandbox)).status for _ in range(3)] == [200, 200, 200]
    async with client.post(sandbox.url + "/admin/track", json={"events": [event()]}) as resp:
        assert resp.status == 429
        assert resp.headers["Retry-After"] == "1"
        assert (await resp.json())["error"] == "Too many requests"
    async with client.get(sandbox.url + "/admin/auth") as resp:
        assert resp.status == 200  # another endpoint
    await asyncio.sleep(0.55)
    assert (await track(client, sandbox)).status == 200
    assert sandbox.state.event_count() == 4
    assert sandbox.state.requests(endpoint="track")[3].fault == "rate_limit"


async def test_rate_limit_at_run_time(sandbox: SandboxThread, client: aiohttp.ClientSession) -> None:
    assert [(await track(client, sandbox)).status for _ in range(3)] == [200] * 3
    status, faults = await set_faults(client, sandbox, {"rate_limit": 2, "rate_limit_window": 30})
    assert (status, faults["rate_limit"]) == (200, 2)
    statuses = [(await track(client, sandbox)) for _ in range(3)]
    assert [r.status for r in statuses] == [200, 200, 429]
    assert 29 <= int(statuses[2].headers["Retry-After"]) <= 30


async def test_identify_and_track_have_their_own_configurable_limits(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    spec = {"rate_limit": 5, "rate_limit_window": 30, "endpoint_rate_limits": {"identify": 2, "track": 3}}
    status, faults = await set_faults(client, sandbox, spec)
    assert (status, faults["endpoint_rate_limits"]) == (200, {"identify": 2, "track": 3})

    async def identify() -> aiohttp.ClientResponse:
        async with client.post(sandbox.url + "/admin/identify", json={"userId": "u1"}) as resp:
            await resp.read()
            return resp

    identifies = [await identify() for _ in range(3)]
    assert [r.status for r in identifies] == [200, 200, 429]
    assert 29 <= int(identifies[2].headers["Retry-After"]) <= 30
    # Identify's budget spent takes nothing from track's, which has its own.
    assert [(await track(client, sandbox)).status for _ in range(4)] == [200, 200, 200, 429]
    async with client.get(sandbox.url + "/admin/auth") as resp:
        assert resp.status == 200  # the others keep `rate_limit`
    status, body = await set_faults(client, sandbox, {"endpoint_rate_limits": {"identify": 0}})
    assert (status, body["errors"]) == (
        400,
        ["endpoint_rate_limits: identify must be a positive integer or null, got 0"],
    )
    status, body = await set_faults(client, sandbox, {"endpoint_rate_limits": {"identify": None}})
    assert status == 200 and (await identify()).status == 200  # null: unlimited


# Injected errors.


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_error_rate_at_start(
    started: list[Sandbox], client: aiohttp.ClientSession, status: int
) -> None:
    sandbox = await start(started, error_rate=1.0, error_status=status)
    async with client.post(sandbox.url + "/admin/track", json={"events": [event()]}) as resp:
        assert resp.status == status
        assert (await resp.json())["error"] == f"Injected error {status}"
    assert sandbox.state.event_count() == 0
    assert sandbox.state.requests()[-1].fault == "error"


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_error_rate_at_run_time(
    sandbox: SandboxThread, client: aiohttp.ClientSession, status: int
) -> None:
    assert (await set_faults(client, sandbox, {"error_rate": 1, "error_status": status}))[0] == 200
    assert (await track(client, sandbox)).status == status
    await set_faults(client, sandbox, {"error_rate": 0})
    assert (await track(client, sandbox)).status == 200


async def test_a_seeded_error_rate_fails_a_reproducible_share(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    runs = []
    for _ in range(2):
        sandbox.set_faults(error_rate=0.5, seed=7)
        runs.append([(await track(client, sandbox)).status for _ in range(40)])
    assert runs[0] == runs[1]
    assert 8 <= runs[0].count(500) <= 32
    assert sandbox.state.event_count() == 2 * runs[0].count(200)


# Latency and timeouts.


async def test_latency_at_start_and_at_run_time(
    started: list[Sandbox], client: aiohttp.ClientSession
) -> None:
    sandbox = await start(started, latency=0.2)
    began = time.monotonic()
    assert (await track(client, sandbox)).status == 200
    assert time.monotonic() - began >= 0.2
    sandbox.set_faults(latency=0)
    began = time.monotonic()
    assert (await track(client, sandbox)).status == 200
    assert time.monotonic() - began < 0.2


async def test_timeout_holds_the_request_without_answering(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    assert (await set_faults(client, sandbox, {"timeout_rate": 1.0}))[0] == 200
    with pytest.raises(TimeoutError):
        await client.post(
            sandbox.url + "/admin/track", json={"events": [event()]}, timeout=aiohttp.ClientTimeout(total=0.3)
        )
    [held] = sandbox.state.requests()
    assert (held.status, held.fault) == (None, "timeout")
    assert sandbox.state.event_count() == 0
    sandbox.set_faults(timeout_rate=0.0)
    assert (await track(client, sandbox)).status == 200


async def test_timeout_at_start_and_stop_releases_held_requests(
    started: list[Sandbox], client: aiohttp.ClientSession
) -> None:
    sandbox = await start(started, timeout_rate=1.0)
    pending = asyncio.ensure_future(client.get(sandbox.url + "/admin/auth"))
    await asyncio.sleep(0.2)
    assert not pending.done()
    began = time.monotonic()
    await sandbox.stop()
    with pytest.raises(aiohttp.ClientError):
        await pending
    assert time.monotonic() - began < 1.0


# Outages.


async def test_503_outage_at_start_ends_after_its_window(
    started: list[Sandbox], client: aiohttp.ClientSession
) -> None:
    sandbox = await start(started, outage=Outage(duration=0.3))
    assert (await track(client, sandbox)).status == 503
    async with client.get(sandbox.url + "/admin/auth") as resp:
        assert resp.status == 503
    async with client.get(sandbox.url + "/__sandbox/stats") as resp:
        assert resp.status == 200  # the inspection API stays up
    await asyncio.sleep(0.35)
    assert (await track(client, sandbox)).status == 200
    assert [r.fault for r in sandbox.state.requests()] == ["outage", "outage", None]


async def test_503_outage_can_start_later(sandbox: SandboxThread, client: aiohttp.ClientSession) -> None:
    sandbox.set_faults(outage={"duration": 0.2, "start_in": 0.2})
    assert (await track(client, sandbox)).status == 200
    await asyncio.sleep(0.25)
    assert (await track(client, sandbox)).status == 503
    await asyncio.sleep(0.2)
    assert (await track(client, sandbox)).status == 200


async def test_refusing_outage_at_run_time_closes_the_port_then_reopens_it(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    assert (await track(client, sandbox)).status == 200  # leaves a keep-alive connection in the pool
    port = sandbox.port
    status, faults = await set_faults(client, sandbox, {"outage": {"duration": 0.5, "mode": "refuse"}})
    assert (status, faults["outage"]["mode"]) == (200, "refuse")
    await asyncio.sleep(0.05)
    with pytest.raises(aiohttp.ServerDisconnectedError):  # the open connection is dropped without an answer
        await track(client, sandbox)
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ClientConnectorError):  # a new connection is refused
            await fresh.get(sandbox.url + "/admin/auth")
    await asyncio.sleep(0.5)
    assert sandbox.port == port
    assert (await track(client, sandbox)).status == 200
    assert [(r.status, r.fault) for r in sandbox.state.requests()] == [
        (200, None),
        (None, "outage"),
        (200, None),
    ]


async def test_refusing_outage_at_start(started: list[Sandbox]) -> None:
    sandbox = await start(started, outage=Outage(duration=0.3, mode="refuse"))
    await asyncio.sleep(0.05)
    async with aiohttp.ClientSession(headers={"Api-Token": TOKEN}) as client:
        with pytest.raises(aiohttp.ClientConnectorError):
            await client.get(sandbox.url + "/admin/auth")
        # The port reopens once the 0.3 s outage ends (poll: a loaded machine may take longer to notice).
        for _ in range(100):
            await asyncio.sleep(0.05)
            try:
                async with client.get(sandbox.url + "/admin/auth") as resp:
                    assert resp.status == 200
                    break
            except aiohttp.ClientConnectorError:
                continue
        else:
            pytest.fail("the port did not reopen within 5 s of a 0.3 s outage")


async def test_ending_a_refusing_outage_early_reopens_the_port(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    sandbox.set_faults(outage=Outage(duration=60, mode="refuse"))
    await asyncio.sleep(0.05)
    sandbox.reset_faults()
    await asyncio.sleep(0.05)
    async with (
        aiohttp.ClientSession(headers={"Api-Token": TOKEN}) as fresh,
        fresh.get(sandbox.url + "/admin/auth") as r,
    ):
        assert r.status == 200


# Size limits.


async def test_max_batch_at_start(started: list[Sandbox], client: aiohttp.ClientSession) -> None:
    sandbox = await start(started, max_batch=2)
    async with client.post(sandbox.url + "/admin/track", json={"events": [event()] * 3}) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"] == "Too many events in one request: 3 > 2"
    assert (await track(client, sandbox, 2)).status == 200
    assert sandbox.state.event_count() == 2
    assert sandbox.state.requests()[0].fault == "max_batch"


async def test_max_body_bytes_at_run_time(sandbox: SandboxThread, client: aiohttp.ClientSession) -> None:
    sandbox.set_faults(max_body_bytes=500)
    assert (await track(client, sandbox, 3)).status == 200
    assert (await track(client, sandbox, 10)).status == 413

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the size is known after reading
        yield b'{"events": ['
        yield b",".join([b'{"name": "x", "userId": "u"}'] * 30)
        yield b"]}"

    async with client.post(sandbox.url + "/admin/track", data=chunked()) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"] == "Request body too large"
    assert sandbox.state.event_count() == 3


async def test_user_errors_refuse_one_users_identifies_and_tracks_over_http(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    status, body = await set_faults(client, sandbox, {"user_errors": {"bad": 500, "worse": 400}})
    assert status == 200 and body["user_errors"] == {"bad": 500, "worse": 400}
    for user, expected in (("bad", 500), ("worse", 400), ("fine", 200)):
        async with client.post(sandbox.url + "/admin/identify", json={"userId": user, "plan": "p"}) as resp:
            assert resp.status == expected, user
        body = {"events": [event("fine"), event(user)]}
        async with client.post(sandbox.url + "/admin/track", json=body) as resp:
            assert resp.status == expected, user  # one event of the user refuses the whole request
    assert set(sandbox.state.contacts()) == {"fine"}
    status, body = await set_faults(client, sandbox, {"user_errors": {"x": 302}})
    assert status == 400 and body["errors"] == [
        "user_errors: 'x' must map to an HTTP status between 400 and 599, got 302"
    ]


# Fault specs.


async def test_a_bad_fault_spec_is_a_400_listing_every_problem(
    sandbox: SandboxThread, client: aiohttp.ClientSession
) -> None:
    before = sandbox.faults
    spec = {"error_rate": 2, "error_status": 404, "bogus": 1, "outage": {"mode": "down"}, "max_batch": True}
    status, body = await set_faults(client, sandbox, spec)
    assert status == 400
    assert body["errors"] == [
        "bogus: unknown fault (known: endpoint_rate_limits, error_rate, error_status, latency, max_batch, "
        "max_body_bytes, outage, rate_limit, rate_limit_window, seed, timeout_rate, user_errors)",
        "error_rate: must be between 0 and 1, got 2",
        "error_status: must be one of 500, 502, 503, got 404",
        "outage: duration is required, mode must be one of 503, refuse, got 'down'",
        "max_batch: must be a positive integer or null, got boolean",
    ]
    assert (await set_faults(client, sandbox, [1]))[1]["error"] == "faults must be a JSON object, got array"
    async with client.post(sandbox.url + "/__sandbox/faults", data=b"{") as resp:
        assert resp.status == 400
    assert sandbox.faults == before


async def test_get_and_delete_faults_over_http(started: list[Sandbox], client: aiohttp.ClientSession) -> None:
    sandbox = await start(started, latency=0.01)
    await set_faults(client, sandbox, {"error_rate": 0.25, "outage": {"duration": 5}})
    async with client.get(sandbox.url + "/__sandbox/faults") as resp:
        current = await resp.json()
    assert (current["error_rate"], current["latency"], current["outage"]) == (
        0.25,
        0.01,
        {"duration": 5.0, "mode": "503", "start_in": 0.0},
    )
    async with client.delete(sandbox.url + "/__sandbox/faults") as resp:
        assert (await resp.json())["error_rate"] == 0.0
    assert sandbox.faults == Faults(rate_limit=None, latency=0.01)
    assert (await track(client, sandbox)).status == 200


def test_fault_specs_merge_into_a_base_and_reject_bad_values() -> None:
    base = Faults(error_rate=0.1, latency=0.5)
    assert Faults.from_json({"latency": 0}, base=base) == Faults(error_rate=0.1)
    assert Faults.from_json({"outage": {"duration": 2, "mode": "refuse"}}).outage == Outage(2.0, "refuse")
    assert Faults.from_json({"rate_limit": None}).rate_limit is None
    assert Faults.from_json(Faults(seed=3).to_json()) == Faults(seed=3)
    with pytest.raises(FaultSpecError, match="latency: must be >= 0, got -1"):
        Faults.from_json({"latency": -1})
    with pytest.raises(FaultSpecError, match="rate_limit: must be a positive integer or null, got 0"):
        Faults.from_json({"rate_limit": 0})
    with pytest.raises(FaultSpecError, match="outage: duration must be > 0"):
        Faults.from_json({"outage": {"duration": 0}})


async def test_set_faults_from_python_validates_changes(sandbox: SandboxThread) -> None:
    with pytest.raises(FaultSpecError, match="timeout_rate: must be a number, got string"):
        sandbox.set_faults(timeout_rate="often")
    assert sandbox.set_faults(Faults(max_batch=5)) == Faults(max_batch=5)
    assert sandbox.faults.rate_limit == 1000


async def test_the_port_is_reclaimed_if_taken_during_a_refusing_outage(
    sandbox: SandboxThread, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.set_faults(outage=Outage(duration=0.2, mode="refuse"))
    await asyncio.sleep(0.05)
    squatter = socket.socket()
    squatter.bind(("127.0.0.1", sandbox.port))
    squatter.listen()
    await asyncio.sleep(0.3)
    assert "cannot listen again on port" in caplog.text
    squatter.close()
    await asyncio.sleep(0.6)
    async with (
        aiohttp.ClientSession(headers={"Api-Token": TOKEN}) as client,
        client.get(sandbox.url + "/admin/auth") as r,
    ):
        assert r.status == 200
