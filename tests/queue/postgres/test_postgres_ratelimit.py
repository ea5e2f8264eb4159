"""The rate limiter shared through PostgreSQL: one limit for every node."""

from __future__ import annotations

import asyncio
import time

import pytest

from gleap_actions.queue.postgres.ratelimit import PostgresRateLimiter, project_key

pytestmark = pytest.mark.postgres


async def test_two_nodes_share_one_limit(postgres_url: str) -> None:
    # 1200/min = 20/s with a burst of 1: 20 requests take at least 19/20 s, whoever sends them. Two
    # limiters that did not share the bucket would let them through in half that.
    nodes = [PostgresRateLimiter(postgres_url, 1200, key=project_key("t"), burst=1) for _ in range(2)]
    started = time.monotonic()
    await asyncio.gather(*(node.acquire() for node in nodes for _ in range(10)))
    assert time.monotonic() - started >= 0.9
    for node in nodes:
        node.close()


async def test_limits_of_different_projects_are_independent(postgres_url: str) -> None:
    a = PostgresRateLimiter(postgres_url, 60, burst=1, key=project_key("token-a"))
    b = PostgresRateLimiter(postgres_url, 60, burst=1, key=project_key("token-b"))
    started = time.monotonic()
    await asyncio.gather(a.acquire(), b.acquire())
    assert time.monotonic() - started < 0.5
    a.close()
    b.close()


async def test_a_pause_on_one_node_holds_the_others(postgres_url: str) -> None:
    here, there = (PostgresRateLimiter(postgres_url, 6000, key=project_key("t")) for _ in range(2))
    await there.acquire()
    here.pause(0.5)
    await asyncio.sleep(0.1)  # the pause is written in the background
    started = time.monotonic()
    await there.acquire()
    assert 0.25 <= time.monotonic() - started < 2
    here.close()
    there.close()


async def test_a_cancelled_wait_gives_its_token_back(postgres_url: str) -> None:
    limiter = PostgresRateLimiter(postgres_url, 60, key=project_key("t"), burst=1)  # one token a second
    await limiter.acquire()
    waiting = asyncio.create_task(limiter.acquire())  # due in 1 s
    await asyncio.sleep(0.2)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    await asyncio.sleep(0.1)  # the token is given back in the background
    started = time.monotonic()
    await limiter.acquire()  # takes the returned slot, due at the same time the cancelled one was
    assert time.monotonic() - started < 0.95
    limiter.close()


async def test_unlimited_never_waits_nor_touches_the_database() -> None:
    limiter = PostgresRateLimiter("postgresql://nobody@127.0.0.1:9/none", 0, key=project_key("t"))
    assert limiter.unlimited
    await asyncio.gather(*(limiter.acquire() for _ in range(100)))
    limiter.pause(0.2)
    started = time.monotonic()
    await limiter.acquire()
    assert time.monotonic() - started >= 0.15
    limiter.close()


def test_project_key_names_the_project_without_the_token() -> None:
    key = project_key("secret-gleap-token")
    assert key == project_key("secret-gleap-token") != project_key("another-token")
    assert "secret" not in key and key.startswith("gleap:")


async def test_a_429_on_one_node_slows_every_node_and_the_rate_climbs_back(postgres_url: str) -> None:
    here, there = (
        PostgresRateLimiter(postgres_url, 6000, key=project_key("t") + ":identify") for _ in range(2)
    )
    await there.acquire()
    assert there.requests_per_minute == 6000
    here.throttled(None)
    here.throttled(None)  # answers to requests sent before the first: not halved again
    await asyncio.sleep(0.2)  # written in the background
    await there.acquire()
    assert 3000 <= there.requests_per_minute < 3200  # halved, climbing back by 100/min a second
    other_endpoint = PostgresRateLimiter(postgres_url, 6000, key=project_key("t") + ":track")
    await other_endpoint.acquire()
    assert other_endpoint.requests_per_minute == 6000  # track's bucket is apart
    for limiter in (here, there, other_endpoint):
        limiter.close()
