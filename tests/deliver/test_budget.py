"""`Budget` and `FairBucket`: which bucket a request counts against, and the order waiters are served in."""

from __future__ import annotations

import asyncio

from gleap_actions.deliver.budget import Budget, FairBucket, endpoint_of
from gleap_actions.deliver.ratelimit import RateLimiter
from gleap_actions.engine.action import Request


def request(path: str) -> Request:
    return Request("POST", f"https://api.gleap.io{path}", {})


def test_track_counts_against_track_and_everything_else_against_identify() -> None:
    assert endpoint_of(request("/admin/track")) == "track"
    assert endpoint_of(request("/admin/identify")) == "identify"
    assert endpoint_of(request("/admin/contacts/u%2F1")) == "identify"  # user deletion
    assert endpoint_of(request("/admin/track/")) == "track"
    assert endpoint_of(request("/admin/trackX")) == "identify"  # only a trailing slash is ignored
    shared = RateLimiter(60)
    budget = Budget({"identify": shared, "track": shared})
    assert budget.bucket(request("/admin/track")) is budget.bucket(request("/admin/identify"))


async def test_waiters_are_served_in_turn_per_flow_priority_first() -> None:
    bucket = FairBucket(RateLimiter(6000, burst=1))  # a token every 10 ms
    served: list[str] = []

    async def wait(flow: str, priority: bool = False) -> None:
        await bucket.acquire(flow, priority=priority)
        served.append(flow)

    # All queued before the first token is handed out: a backlog of A, two of B, one audience request.
    waiters = [wait("A") for _ in range(6)] + [wait("B"), wait("B"), wait("audiences", priority=True)]
    await asyncio.gather(*waiters)
    assert served == ["audiences", "A", "B", "A", "B", "A", "A", "A", "A"]
    bucket.close()


async def test_a_cancelled_waiter_is_skipped() -> None:
    bucket = FairBucket(RateLimiter(6000, burst=1))
    gone = asyncio.create_task(bucket.acquire("A"))
    kept = asyncio.create_task(bucket.acquire("B"))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.wait_for(kept, 5)
    assert gone.cancelled()
    bucket.close()


class FailingOnce(RateLimiter):
    """A real limiter whose first acquire fails, as a shared one does when its database is unreachable."""

    failed = False

    async def acquire(self) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionError("limiter database unreachable")
        await super().acquire()


async def test_a_failing_limiter_fails_one_waiter_and_serves_the_next() -> None:
    bucket = FairBucket(FailingOnce(6000, burst=1))
    first = asyncio.create_task(bucket.acquire("A"))
    second = asyncio.create_task(bucket.acquire("B"))
    results = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 5)
    assert [type(r).__name__ for r in results] == ["ConnectionError", "NoneType"]
    bucket.close()


class Counting(RateLimiter):
    """A real limiter that counts the tokens taken."""

    taken = 0

    async def acquire(self) -> None:
        self.taken += 1
        await super().acquire()


async def test_an_idle_bucket_takes_no_tokens() -> None:
    limiter = Counting(6000, burst=1)  # a token every 10 ms
    bucket = FairBucket(limiter)
    await asyncio.wait_for(asyncio.gather(bucket.acquire("A"), bucket.acquire("B")), 5)
    await asyncio.sleep(0.1)  # nothing waits now: the server stops instead of draining the budget
    assert limiter.taken == 2
    bucket.close()
